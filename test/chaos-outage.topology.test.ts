/**
 * Chaos 5: Redis unreachable for longer than BullMQ's drain delay (5 s) and
 * than the watchdog's threshold, then back. Workers must resume by themselves
 * (taskforcesh/bullmq #4585: workers parked for good after a long outage),
 * the API answers 503 (never a hang, never a 500) meanwhile.
 */
import { test } from 'node:test';
import { startRedis } from '../shared/testing/redis-process.ts';
import { startProxy } from '../shared/testing/tcp-proxy.ts';
import { assertHealthy, printSummary, recoveryMs, startFleet, startLoad, steady, verify, workerResumeMs } from './chaos-harness.ts';

const OUTAGE_MS = 15_000;

test(`Redis unreachable for ${OUTAGE_MS / 1000} s (longer than the drain delay), then back: workers resume within 10 s, the API answered 503 meanwhile`, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const proxy = await startProxy({ target: { host: '127.0.0.1', port: redis.port } });
  t.after(() => proxy.stop());
  const fleet = await startFleet(proxy.url());
  t.after(() => fleet.stop());

  const load = startLoad(fleet, { rate: 20 });
  await steady(load);
  await proxy.refuse(); // ECONNREFUSED for everyone, open connections dropped
  const downAt = Date.now();
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  await proxy.accept();
  const upAt = Date.now();
  const enqueueBack = await load.firstAckAfter(upAt);
  await new Promise((r) => setTimeout(r, 6000));
  const result = await load.stop();
  const outcome = await verify(fleet, result.acked.keys());
  const s = {
    scenario: 'outage',
    load: result,
    outcome,
    recoveryMs: recoveryMs(outcome, upAt),
    workerResumeMs: workerResumeMs(fleet, upAt),
    enqueueRecoveryMs: enqueueBack - upAt,
    extra: { outageMs: upAt - downAt },
  };
  printSummary(s, fleet);
  assertHealthy(fleet, s);
});
