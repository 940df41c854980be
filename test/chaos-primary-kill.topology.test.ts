/**
 * Chaos 2: SIGKILL of the primary while producers enqueue over HTTP and
 * workers run jobs. The sentinels notice (down-after 1 s), agree and promote
 * a replica; every process follows them there.
 */
import { test } from 'node:test';
import { startTopology } from '../shared/testing/redis-topology.ts';
import { assertHealthy, printSummary, recoveryMs, startFleet, startLoad, steady, verify, workerResumeMs } from './chaos-harness.ts';

test('SIGKILL of the primary mid-load: the sentinels promote a replica, every acknowledged job completes, processing resumes within 10 s', async (t) => {
  const topo = await startTopology({ downAfterMs: 1000 });
  t.after(() => topo.stop());
  const fleet = await startFleet(topo.sentinelUrl);
  t.after(() => fleet.stop());

  const load = startLoad(fleet, { rate: 30 });
  await steady(load);
  const old = topo.primary;
  const killedAt = Date.now();
  old.kill('SIGKILL');
  const { primary } = await topo.waitForPrimaryChange(old.port, 30_000);
  const upAt = Date.now();
  const enqueueBack = await load.firstAckAfter(upAt);
  await new Promise((r) => setTimeout(r, 6000));
  const result = await load.stop();
  const outcome = await verify(fleet, result.acked.keys());
  const s = {
    scenario: 'primary-sigkill',
    load: result,
    outcome,
    recoveryMs: recoveryMs(outcome, upAt),
    workerResumeMs: workerResumeMs(fleet, upAt),
    enqueueRecoveryMs: enqueueBack - upAt,
    extra: { promotedAfterMs: upAt - killedAt, newPrimary: primary.name },
  };
  printSummary(s, fleet);
  assertHealthy(fleet, s);
});
