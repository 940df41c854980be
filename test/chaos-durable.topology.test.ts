/**
 * Chaos 6: the primary is SIGKILLed right after acknowledging jobs that its
 * replicas do not hold yet. With async replication that happens whenever the
 * replicas lag, and it is made certain here: replication stalls a moment
 * before the kill (the replicas' links are cut and their PSYNC refused by
 * an ACL rule, as a network partition between them would). Default mode
 * acknowledges the jobs written in that moment and loses them (reported as a
 * figure); durable mode (ENQUEUE_MIN_REPLICAS=1: WAIT 1 on the connection that
 * wrote the job, before the 201) answers 503 for them instead and must lose
 * no acknowledged job. Both fleets run side by side and live through the same
 * kill.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTopology } from '../shared/testing/redis-topology.ts';
import { assertHealthy, printSummary, recoveryMs, startFleet, startLoad, steady, verify, workerResumeMs } from './chaos-harness.ts';

test('SIGKILL of the primary right after acknowledgements its replicas do not hold: durable mode (ENQUEUE_MIN_REPLICAS=1) loses no acknowledged job; default mode loss reported', async (t) => {
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
  await old.call('ACL', 'SETUSER', 'default', '-psync', '-sync', '-replconf');
  await old.call('CLIENT', 'KILL', 'TYPE', 'replica');
  const cutAt = Date.now();
  // Kill right after default mode acknowledged jobs the replicas cannot have.
  await loads[1].firstAckAfter(cutAt + 300);
  const linked = Number(/connected_slaves:(\d+)/.exec(String(await old.call('INFO', 'replication')))?.[1]);
  old.kill('SIGKILL');
  const killedAt = Date.now();
  await topo.waitForPrimaryChange(old.port, 30_000);
  const upAt = Date.now();
  const back = await Promise.all(loads.map((l) => l.firstAckAfter(upAt)));
  await new Promise((r) => setTimeout(r, 5000));
  const [dr, pr] = await Promise.all(loads.map((l) => l.stop()));
  const [dOut, pOut] = await Promise.all([verify(durable, dr!.acked.keys()), verify(plain, pr!.acked.keys(), 20_000)]);
  const ds = { scenario: 'durable-min-replicas-1', load: dr!, outcome: dOut, recoveryMs: recoveryMs(dOut, upAt), workerResumeMs: workerResumeMs(durable, upAt), enqueueRecoveryMs: back[0]! - upAt, extra: { promotedAfterMs: upAt - killedAt, replicasLinkedAtKill: linked, killedMsAfterCut: killedAt - cutAt } };
  const ps = { scenario: 'default-mode', load: pr!, outcome: pOut, recoveryMs: recoveryMs(pOut, upAt), workerResumeMs: workerResumeMs(plain, upAt), enqueueRecoveryMs: back[1]! - upAt, extra: { promotedAfterMs: upAt - killedAt, lostIds: pOut.lost.map((l) => l.id).join(',') || 'none' } };
  printSummary(ds, durable);
  printSummary(ps, plain);
  assertHealthy(durable, ds);
  assertHealthy(plain, ps, { allowLoss: true });
  assert.equal(dOut.lost.length, 0, 'durable mode lost no acknowledged job');
});
