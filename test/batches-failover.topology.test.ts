/**
 * A batch across a Sentinel failover (primary, replica, Sentinels; durable
 * mode, ENQUEUE_MIN_REPLICAS=1): the primary changes while the batch's jobs
 * run; every job runs (at least once), the counts add up to the total, and
 * each callback fires exactly once. The handlers record in a Redis of their
 * own, which the failover does not touch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startTopology } from '../shared/testing/redis-topology.ts';
import { startRedis } from '../shared/testing/redis-process.ts';
import { openCore, testConfig } from '../shared/testing/fixtures.ts';
import { spawnConveyor, type ConveyorProcess } from '../shared/testing/processes.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { batchKeys, callbackJobId } from '../shared/batches/keys.ts';

const HANDLERS = join(import.meta.dirname, 'fixtures', 'batch-handlers.ts');

test('Sentinel failover while a batch runs: every job runs, the counts add up, each callback fires once', async (t) => {
  const topo = await startTopology();
  t.after(() => topo.stop());
  const counters = await startRedis();
  t.after(() => counters.stop());
  const probe = new Redis(counters.url);
  t.after(() => probe.disconnect());
  const core = await openCore(testConfig(topo.sentinelUrl, { ENQUEUE_MIN_REPLICAS: '1' }));
  t.after(() => core.close());
  const q = 'batch-failover';
  const procs: ConveyorProcess[] = [];
  t.after(() => Promise.all(procs.map((p) => (p.exitCode() === undefined ? p.stop('SIGKILL') : undefined))));
  for (let i = 0; i < 2; i++) {
    const p = spawnConveyor('worker', { REDIS_URL: topo.sentinelUrl, BATCH_TEST_REDIS: counters.url, QUEUES: q, HANDLERS, CONCURRENCY: '5', LOCK_DURATION_MS: '2000', STALLED_INTERVAL_MS: '500', ENQUEUE_MIN_REPLICAS: '1' });
    procs.push(p);
    await p.waitForLine('"worker started"', (j) => j.msg === 'worker started');
  }
  const b = await core.conveyor.batches.create({
    jobs: Array.from({ length: 120 }, (_, i) => ({ queue: q, name: 'work', data: { i, ms: 150 } })),
    onSuccess: { queue: q, name: 'done' },
    onComplete: { queue: q, name: 'done' },
  });
  const runs = async () => new Set(await probe.lrange(`batchtest:{${q}}:runs`, 0, -1));
  await waitFor('jobs running before the failover', async () => (await runs()).size >= 10, { timeoutMs: 30_000 });
  await topo.failover();
  const failedOverAt = Date.now();
  assert.ok((await runs()).size < 120, 'jobs were left when the primary changed');
  await waitFor('every job ran', async () => {
    const ran = await runs();
    return b.ids.every((id) => ran.has(id));
  }, { timeoutMs: 60_000, intervalMs: 200 });
  await waitFor('the batch at rest: succeeded, outbox empty, both callbacks completed', async () => {
    const v = await core.conveyor.batches.get(b.id);
    const cbs = await Promise.all((['success', 'complete'] as const).map((k) => core.conveyor.getJob(q, callbackJobId(b.id, k))));
    return v.state === 'succeeded' && (await core.conn.hlen(batchKeys.outbox(q, b.id))) === 0 && cbs.every((j) => j?.state === 'completed');
  }, { timeoutMs: 60_000, intervalMs: 200 });
  const v = await core.conveyor.batches.get(b.id);
  assert.deepEqual([v.total, v.succeeded, v.pending, v.failed, v.dead], [120, 120, 0, 0, 0], 'the counts add up to the total');
  assert.ok(Date.parse(v.completedAt!) > failedOverAt - 1000, 'the batch finished after the failover');
  const callbacks = (await probe.lrange(`batchtest:{${q}}:callbacks`, 0, -1)).map((l) => JSON.parse(l) as { event: string; counts: Record<string, number> });
  assert.deepEqual(callbacks.map((c) => c.event).sort(), ['complete', 'success'], 'each callback ran once');
  for (const c of callbacks) assert.deepEqual(c.counts, { total: 120, pending: 0, failed: 0, succeeded: 120, dead: 0 });
});
