/**
 * Chaos 6: the primary is SIGKILLed right while jobs are being acknowledged.
 * With async replication a killed primary's last writes may never reach the
 * replica the sentinels promote: default mode can lose acknowledged jobs
 * (reported as a figure), durable mode (ENQUEUE_MIN_REPLICAS=1: WAIT 1 on the
 * connection that wrote the job, before the 201) must lose none. Both fleets
 * run side by side on the same topology and live through the same kill.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTopology } from '#shared/testing/redis-topology.ts';
import { assertHealthy, printSummary, recoveryMs, startFleet, startLoad, steady, verify, workerResumeMs } from './chaos-harness.ts';

test('SIGKILL of the primary right after acknowledgements: durable mode (ENQUEUE_MIN_REPLICAS=1) loses no acknowledged job; default mode loss reported', async (t) => {
  const topo = await startTopology({ downAfterMs: 1000 });
  t.after(() => topo.stop());
  const [durable, plain] = await Promise.all([
    startFleet(topo.sentinelUrl, { workers: 1, env: { ENQUEUE_MIN_REPLICAS: '1' } }),
    startFleet(topo.sentinelUrl, { workers: 1 }),
  ]);
  t.after(() => Promise.all([durable.stop(), plain.stop()]));

  const loads = [startLoad(durable, { rate: 40, prefix: 'd' }), startLoad(plain, { rate: 40, prefix: 'p' })] as const;
  await Promise.all(loads.map((l) => steady(l, 2000)));
  const old = topo.primary;
  // Kill right after a 201 came back from each fleet: their last writes are as fresh as they get.
  const now = Date.now();
  await Promise.all(loads.map((l) => l.firstAckAfter(now)));
  old.kill('SIGKILL');
  const killedAt = Date.now();
  await topo.waitForPrimaryChange(old.port, 30_000);
  const upAt = Date.now();
  const back = await Promise.all(loads.map((l) => l.firstAckAfter(upAt)));
  await new Promise((r) => setTimeout(r, 5000));
  const [dr, pr] = await Promise.all(loads.map((l) => l.stop()));
  const [dOut, pOut] = await Promise.all([verify(durable, dr!.acked.keys()), verify(plain, pr!.acked.keys(), 20_000)]);
  const ds = { scenario: 'durable-min-replicas-1', load: dr!, outcome: dOut, recoveryMs: recoveryMs(dOut, upAt), workerResumeMs: workerResumeMs(durable, upAt), enqueueRecoveryMs: back[0]! - upAt, extra: { promotedAfterMs: upAt - killedAt } };
  const ps = { scenario: 'default-mode', load: pr!, outcome: pOut, recoveryMs: recoveryMs(pOut, upAt), workerResumeMs: workerResumeMs(plain, upAt), enqueueRecoveryMs: back[1]! - upAt, extra: { promotedAfterMs: upAt - killedAt, lostIds: pOut.lost.map((l) => l.id).join(',') || 'none' } };
  printSummary(ds);
  printSummary(ps);
  assertHealthy(durable, ds);
  assertHealthy(plain, ps, { allowLoss: true });
  assert.equal(dOut.lost.length, 0, 'durable mode lost no acknowledged job');
});
