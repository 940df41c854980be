/**
 * Chaos 1 again, with Sentinels that announce host names (`announce-hostnames
 * yes`, nodes known as "localhost"), as Kubernetes operators and some managed
 * services set them up. Conveyor cannot compare the announced primary with a
 * socket's peer address then: a connection counts as caught up when it became
 * ready after the switch (sentinel-events.ts). Same load, same checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTopology } from '#shared/testing/redis-topology.ts';
import { assertHealthy, printSummary, recoveryMs, startFleet, startLoad, steady, verify, workerResumeMs } from './chaos-harness.ts';

test('SENTINEL FAILOVER with host-name announcing Sentinels: every acknowledged job completes, only 503s during the switch, processing resumes', async (t) => {
  const topo = await startTopology({ hostnames: true });
  t.after(() => topo.stop());
  const before = await topo.currentPrimary();
  assert.equal(before.host, 'localhost', 'the Sentinels announce the primary by host name');
  const fleet = await startFleet(topo.sentinelUrl);
  t.after(() => fleet.stop());

  const load = startLoad(fleet, { rate: 30 });
  await steady(load);
  const { ms } = await topo.failover();
  const upAt = Date.now();
  const after = await topo.currentPrimary();
  assert.equal(after.host, 'localhost');
  assert.notEqual(after.port, before.port);
  const enqueueBack = await load.firstAckAfter(upAt);
  await new Promise((r) => setTimeout(r, 4000)); // keep the load on after the switch
  const result = await load.stop();
  const outcome = await verify(fleet, result.acked.keys());
  const s = { scenario: 'sentinel-hostnames', load: result, outcome, recoveryMs: recoveryMs(outcome, upAt), workerResumeMs: workerResumeMs(fleet, upAt), enqueueRecoveryMs: enqueueBack - upAt, extra: { failoverMs: ms } };
  printSummary(s, fleet);
  assertHealthy(fleet, s);
});
