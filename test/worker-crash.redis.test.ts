/**
 * At least once (SPEC "Semantics"): a worker killed with SIGKILL mid-job
 * leaves its lock to lapse; another worker's stalled-job check puts the job
 * back and runs it. Recovery (kill -> completed) is measured with fast test
 * settings and with the production defaults.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnConveyor, type ConveyorProcess } from '../shared/testing/processes.ts';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';

let redis: RedisProcess;
let core: Core;
const procs: ConveyorProcess[] = [];

before(async () => {
  ({ redis, core } = await redisAndCore());
});
after(async () => {
  await Promise.all(procs.map((p) => (p.exitCode() === undefined ? p.stop('SIGKILL') : undefined)));
  await closeRedisAndCore(redis, core);
});

async function startWorker(queue: string, env: Record<string, string>): Promise<ConveyorProcess> {
  const p = spawnConveyor('worker', { REDIS_URL: redis.url, QUEUES: queue, ...env });
  procs.push(p);
  await p.waitForLine('"worker started"', (j) => j.msg === 'worker started');
  return p;
}

/**
 * Kills the worker running a long job and measures the recovery: kill ->
 * the job started again by the survivor. The job is long (8 s) so that it
 * cannot finish on the doomed worker while the survivor boots, however
 * loaded the machine is.
 */
const JOB_MS = 8000;
async function recovery(label: string, env: Record<string, string>, limitMs: number): Promise<void> {
  const q = uniqueQueue('crash');
  const doomed = await startWorker(q, env);
  const { id } = await core.producer.enqueue(q, { name: 'sleep', data: { ms: JOB_MS }, opts: { attempts: 1 } });
  const firstRun = await waitFor('job active', async () => {
    const j = await core.inspector.getJob(q, id);
    return j?.state === 'active' ? j : undefined;
  });
  // The survivor is up before the crash, as in a fleet.
  await startWorker(q, env);
  const beforeKill = await core.inspector.getJob(q, id);
  assert.equal(beforeKill?.state, 'active', 'the job is still running on the doomed worker at the kill');
  assert.equal(beforeKill?.processedAt, firstRun.processedAt);

  const killedAt = Date.now();
  doomed.proc.kill('SIGKILL');
  assert.equal(await doomed.exited, 'SIGKILL');
  const rerun = await waitFor('job started again by the survivor', async () => {
    const j = await core.inspector.getJob(q, id);
    return j && j.processedAt !== firstRun.processedAt && (j.state === 'active' || j.state === 'completed') ? j : undefined;
  }, { timeoutMs: limitMs + 5000, intervalMs: 50 });
  const ms = Date.now() - killedAt;
  console.log(`  ${label}: kill -9 -> job started again elsewhere in ${ms} ms`);
  assert.ok(ms < limitMs, `recovery took ${ms} ms`);
  assert.ok(Date.parse(rerun.processedAt!) >= killedAt, 'the second run started after the kill');

  const done = await waitFor('job completed by the survivor', async () => {
    const j = await core.inspector.getJob(q, id);
    return j?.state === 'completed' ? j : undefined;
  }, { timeoutMs: JOB_MS + 10_000, intervalMs: 50 });
  assert.deepEqual(done.returnValue, { slept: JOB_MS });
  // It ran a second time without spending an attempt (attempts: 1 would have
  // dead-lettered it) or landing in the dead letters.
  assert.equal(await core.inspector.deadLetters.count(q), 0);
}

describe('a worker killed mid-job', { concurrency: 2 }, () => {
  test('with LOCK_DURATION_MS=2000 STALLED_INTERVAL_MS=1000 another worker starts the job again within 10 s', async () => {
    await recovery('test settings (lock 2000 ms, stalled check 1000 ms)', { LOCK_DURATION_MS: '2000', STALLED_INTERVAL_MS: '1000' }, 10_000);
  });

  test('with the production defaults (lock 10 s, stalled check 5 s) another worker starts the job again within 30 s (15 s expected)', async () => {
    await recovery('defaults (lock 10000 ms, stalled check 5000 ms)', {}, 30_000);
  });
});
