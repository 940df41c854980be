/**
 * The flow gate across a Sentinel failover: a key's concurrency may be
 * exceeded by at most the jobs that were in flight at the moment of the
 * failover (their workers go on while the new primary runs them again after
 * their locks lapse: at-least-once), every job still runs, and afterwards the
 * key runs at its full concurrency with every slot given back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startTopology } from '../shared/testing/redis-topology.ts';
import { startRedis } from '../shared/testing/redis-process.ts';
import { openCore, testConfig } from '../shared/testing/fixtures.ts';
import { spawnConveyor, type ConveyorProcess } from '../shared/testing/processes.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { Redis } from 'ioredis';

const HANDLERS = join(import.meta.dirname, 'fixtures', 'flow-handlers.ts');
const CONCURRENCY = 2;

test('Sentinel failover: a key exceeds its concurrency by at most the jobs in flight, every job runs, no slot is lost', async (t) => {
  const topo = await startTopology();
  t.after(() => topo.stop());
  // The handler's counters live in a Redis of their own: the failover must not touch the measurement.
  const counters = await startRedis();
  t.after(() => counters.stop());
  const probe = new Redis(counters.url);
  t.after(() => probe.disconnect());
  const core = await openCore(testConfig(topo.sentinelUrl));
  t.after(() => core.close());
  const q = 'flow-failover';
  await core.conveyor.queues.setLimits(q, { perKey: { concurrency: CONCURRENCY } });
  const procs: ConveyorProcess[] = [];
  t.after(() => Promise.all(procs.map((p) => (p.exitCode() === undefined ? p.stop('SIGKILL') : undefined))));
  for (let i = 0; i < 2; i++) {
    const p = spawnConveyor('worker', { REDIS_URL: topo.sentinelUrl, FLOW_TEST_REDIS: counters.url, QUEUES: q, HANDLERS, CONCURRENCY: '5', LOCK_DURATION_MS: '2000', STALLED_INTERVAL_MS: '500' });
    procs.push(p);
    await p.waitForLine('"worker started"', (j) => j.msg === 'worker started');
  }
  // Acknowledged by a replica too (durable enqueue), so the failover cannot lose them.
  const ids = new Set<string>();
  for (let b = 0; b < 2; b++) {
    const r = await core.producer.enqueueBulk(q, Array.from({ length: 30 }, () => ({ name: 'flow', data: { ms: 150 }, opts: { key: 'k', minReplicas: 1 } })));
    for (const id of r.ids) ids.add(id);
  }
  const startsKey = `flowtest:{${q}}:starts`;
  await waitFor('jobs running before the failover', async () => (await probe.llen(startsKey)) >= 6, { timeoutMs: 30_000 });
  const inFlight = Number((await probe.get(`flowtest:{${q}}:running:k`)) ?? 0);
  assert.ok(await probe.get(`flowtest:{${q}}:max:k`) !== null);
  assert.ok(Number(await probe.get(`flowtest:{${q}}:max:k`)) <= CONCURRENCY, 'within the limit before the failover');
  await topo.failover();
  await waitFor('every job ran', async () => {
    const ran = new Set((await probe.lrange(startsKey, 0, -1)).map((l) => l.split(' ')[1]));
    return [...ids].every((id) => ran.has(id));
  }, { timeoutMs: 90_000, intervalMs: 200 });
  const max = Number(await probe.get(`flowtest:{${q}}:max:k`));
  assert.ok(max <= CONCURRENCY + Math.max(inFlight, CONCURRENCY), `at most ${CONCURRENCY} + the ${inFlight} in flight at once (saw ${max})`);
  await waitFor('every slot given back', async () => (await core.conveyor.queues.limits(q)).admitted === 0, { timeoutMs: 30_000, intervalMs: 200 });
  // And the key still runs at its full concurrency.
  await probe.del(`flowtest:{${q}}:max:k`, `flowtest:{${q}}:running:k`);
  const more = await core.producer.enqueueBulk(q, Array.from({ length: 20 }, () => ({ name: 'flow', data: { ms: 100 }, opts: { key: 'k' } })));
  await waitFor('the new jobs ran', async () => {
    const ran = new Set((await probe.lrange(startsKey, 0, -1)).map((l) => l.split(' ')[1]));
    return more.ids.every((id) => ran.has(id));
  }, { timeoutMs: 60_000, intervalMs: 200 });
  assert.equal(Number(await probe.get(`flowtest:{${q}}:max:k`)), CONCURRENCY, 'full concurrency after the failover, never more');
});
