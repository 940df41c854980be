/**
 * Chaos 1: SENTINEL FAILOVER while producers enqueue over HTTP and workers
 * run jobs. The old primary steps down cleanly; every process follows the
 * sentinels to the new one. Run twice: with Sentinels that announce IP
 * addresses (the default), and with Sentinels that announce host names
 * (`announce-hostnames yes`, nodes known as "localhost", as Kubernetes
 * operators and some managed services set them up), where Conveyor cannot
 * compare the announced primary with a socket's peer address and counts a
 * connection as caught up when it became ready after the switch
 * (sentinel-events.ts).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { recentFailovers } from '../shared/redis/failover-log.ts';
import { startTopology } from '../shared/testing/redis-topology.ts';
import { assertHealthy, printSummary, recoveryMs, startFleet, startLoad, steady, verify, workerResumeMs } from './chaos-harness.ts';

async function failoverUnderLoad(t: TestContext, scenario: string, hostnames: boolean): Promise<void> {
  const topo = await startTopology({ hostnames });
  t.after(() => topo.stop());
  const announced = hostnames ? 'localhost' : '127.0.0.1';
  assert.equal((await topo.currentPrimary()).host, announced, 'what the Sentinels announce');
  const fleet = await startFleet(topo.sentinelUrl);
  t.after(() => fleet.stop());

  const load = startLoad(fleet, { rate: 30 });
  await steady(load);
  const { ms, primary, previous } = await topo.failover();
  const upAt = Date.now();
  assert.equal((await topo.currentPrimary()).host, announced);
  const enqueueBack = await load.firstAckAfter(upAt);
  await new Promise((r) => setTimeout(r, 6000)); // keep the load on after the switch
  const result = await load.stop();
  const outcome = await verify(fleet, result.acked.keys());
  const s = { scenario, load: result, outcome, recoveryMs: recoveryMs(outcome, upAt), workerResumeMs: workerResumeMs(fleet, upAt), enqueueRecoveryMs: enqueueBack - upAt, extra: { failoverMs: ms } };
  const log = await recentFailovers(primary.client(), 10);
  printSummary({ ...s, extra: { ...s.extra, failoverLog: log.map((e) => `${e.from}>${e.to}:${e.kind}:${e.seenBy.split('@')[0]}`).join(',') } }, fleet);
  assertHealthy(fleet, s);
  // Three processes saw the same change; the log holds it once (by the sockets' peer addresses).
  assert.deepEqual(log.map((e) => [e.from, e.to, e.kind]), [[`127.0.0.1:${previous.port}`, `127.0.0.1:${primary.port}`, 'sentinel']]);
}

test('SENTINEL FAILOVER mid-load: every acknowledged job completes, only 503s during the switch, processing resumes within 10 s', (t) => failoverUnderLoad(t, 'sentinel-failover', false));

test('the same with Sentinels that announce host names', (t) => failoverUnderLoad(t, 'sentinel-hostnames', true));
