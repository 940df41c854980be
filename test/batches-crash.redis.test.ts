/**
 * Batches with real worker processes: the worker running a batch's last job
 * is killed with kill -9; another worker runs the job again once its lock
 * lapses, and each callback fires exactly once, enqueued once.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawnConveyor, type ConveyorProcess } from '../shared/testing/processes.ts';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { closeRedisAndCore, redisAndCore, uniqueQueue, type Core } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { bullName, PREFIX } from '../shared/queue/names.ts';
import { batchKeys, callbackJobId } from '../shared/batches/keys.ts';

let redis: RedisProcess;
let core: Core;
const procs: ConveyorProcess[] = [];
const HANDLERS = join(import.meta.dirname, 'fixtures', 'batch-handlers.ts');

before(async () => {
  ({ redis, core } = await redisAndCore());
});
after(async () => {
  await Promise.all(procs.map((p) => (p.exitCode() === undefined ? p.stop('SIGKILL') : undefined)));
  await closeRedisAndCore(redis, core);
});

function startWorker(queue: string): ConveyorProcess {
  const p = spawnConveyor('worker', {
    REDIS_URL: redis.url,
    BATCH_TEST_REDIS: redis.url,
    QUEUES: queue,
    HANDLERS,
    CONCURRENCY: '4',
    LOCK_DURATION_MS: '2000',
    STALLED_INTERVAL_MS: '500',
    LOG_LEVEL: 'info',
  });
  procs.push(p);
  return p;
}

async function addsOf(queue: string, jobId: string): Promise<number> {
  const events = await core.conn.xrange(`${PREFIX}:${bullName(queue)}:events`, '-', '+');
  return events.filter(([, f]) => f[1] === 'waiting' && f[3] === jobId).length;
}

test('kill -9 of the worker running the last job: the job runs again elsewhere, each callback fires once', async () => {
  const q = uniqueQueue('batch-kill');
  const ws = [startWorker(q), startWorker(q)];
  await Promise.all(ws.map((w) => w.waitForLine('"worker started"', (j) => j.msg === 'worker started')));
  const b = await core.conveyor.batches.create({
    jobs: [...Array.from({ length: 20 }, (_, i) => ({ queue: q, name: 'work', data: { i } })), { queue: q, name: 'last', opts: { attempts: 3 } }],
    onSuccess: { queue: q, name: 'done' },
    onComplete: { queue: q, name: 'done' },
  });
  const pid = Number(await waitFor('the last job blocking in a worker', () => core.conn.lindex(`batchtest:{${q}}:blocked`, 0)));
  await waitFor('every other job done', async () => (await core.conveyor.batches.get(b.id)).succeeded === 20);
  const victim = ws.find((w) => w.proc.pid === pid)!;
  assert.ok(victim, 'the blocked job runs in one of the workers');
  assert.equal((await core.conveyor.batches.get(b.id)).state, 'running');
  await victim.stop('SIGKILL');

  const callbacks = async () => (await core.conn.lrange(`batchtest:{${q}}:callbacks`, 0, -1)).map((l) => JSON.parse(l) as { id: string; event: string; counts: Record<string, number>; pid: number });
  await waitFor('both callbacks ran', async () => (await callbacks()).length >= 2, { timeoutMs: 20_000 });
  // Nothing is left to happen: the batch is finished, its outbox empty, both callback jobs completed.
  await waitFor('the batch at rest', async () => {
    const v = await core.conveyor.batches.get(b.id);
    const cbs = await Promise.all(['success', 'complete'].map((k) => core.conveyor.getJob(q, callbackJobId(b.id, k as 'success'))));
    return v.state === 'succeeded' && (await core.conn.hlen(batchKeys.outbox(q, b.id))) === 0 && cbs.every((j) => j?.state === 'completed');
  });
  const runs = await callbacks();
  assert.deepEqual(runs.map((r) => r.event).sort(), ['complete', 'success']);
  for (const r of runs) {
    assert.deepEqual(r.counts, { total: 21, pending: 0, failed: 0, succeeded: 21, dead: 0 });
    assert.notEqual(r.pid, pid, 'not run by the killed worker');
  }
  assert.equal(await addsOf(q, callbackJobId(b.id, 'success')), 1);
  assert.equal(await addsOf(q, callbackJobId(b.id, 'complete')), 1);
  const v = await core.conveyor.batches.get(b.id);
  assert.deepEqual([v.total, v.succeeded, v.dead, v.pending, v.failed], [21, 21, 0, 0, 0]);
  await Promise.all(procs.map((p) => (p.exitCode() === undefined ? p.stop('SIGTERM') : undefined)));
});
