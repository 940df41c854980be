/**
 * Chaos 3: the primary freezes (SIGSTOP: its sockets stay open, nothing
 * answers) for longer than the sentinels' down-after time, a replica is
 * promoted, then the old primary resumes as a stale node that still believes
 * it is the primary until the sentinels demote it. Nothing may keep talking
 * to it: writes there would be lost when it resyncs.
 */
import { test } from 'node:test';
import { startTopology } from '../shared/testing/redis-topology.ts';
import { assertHealthy, printSummary, recoveryMs, startFleet, startLoad, steady, verify, workerResumeMs } from './chaos-harness.ts';

test('primary frozen past down-after, then resumed stale: every acknowledged job completes, processing resumes within 10 s', async (t) => {
  const topo = await startTopology({ downAfterMs: 1000 });
  t.after(() => topo.stop());
  const fleet = await startFleet(topo.sentinelUrl);
  t.after(() => fleet.stop());

  const load = startLoad(fleet, { rate: 30 });
  await steady(load);
  const old = topo.primary;
  const frozenAt = Date.now();
  old.pause();
  const { primary } = await topo.waitForPrimaryChange(old.port, 30_000);
  const upAt = Date.now();
  const enqueueBack = await load.firstAckAfter(upAt);
  // Frozen a while longer (a GC pause, a stuck VM), then back as a stale primary.
  await new Promise((r) => setTimeout(r, 2000));
  const resumedAt = Date.now();
  old.resume();
  await topo.waitForReplica(old);
  const demotedMs = Date.now() - resumedAt;
  await new Promise((r) => setTimeout(r, 4000));
  const result = await load.stop();
  const outcome = await verify(fleet, result.acked.keys());
  const s = {
    scenario: 'primary-sigstop',
    load: result,
    outcome,
    recoveryMs: recoveryMs(outcome, upAt),
    workerResumeMs: workerResumeMs(fleet, upAt),
    enqueueRecoveryMs: enqueueBack - upAt,
    extra: { promotedAfterMs: upAt - frozenAt, staleDemotedAfterMs: demotedMs, newPrimary: primary.name },
  };
  printSummary(s, fleet);
  assertHealthy(fleet, s);
});
