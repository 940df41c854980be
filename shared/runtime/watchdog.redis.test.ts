/**
 * The worker watchdog against a real Redis: a BullMQ worker whose fetch loop
 * is parked for good (the end state of taskforcesh/bullmq #4378 / #4585: the
 * blocking wait for the next job never returns) is replaced and jobs flow
 * again; a healthy worker and a paused queue are left alone.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from 'bullmq';
import type { RedisProcess } from '../testing/redis-process.ts';
import { testConfig, uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../testing/fixtures.ts';
import { waitFor } from '../testing/wait-for.ts';
import { silentLogger } from '../log.ts';
import { WorkerHost } from './worker-host.ts';
import { Watchdog } from './watchdog.ts';

let redis: RedisProcess;
let core: Core;

before(async () => {
  ({ redis, core } = await redisAndCore());
});
after(async () => {
  await closeRedisAndCore(redis, core);
});

const SILENT_MS = 1500;

/** A host on one queue with a watchdog that checks every 100 ms and acts after SILENT_MS. */
function hostWithWatchdog(queue: string, onStarted?: (host: WorkerHost) => void) {
  const started: number[] = [];
  const host = new WorkerHost({
    config: testConfig(redis.url, { CONCURRENCY: '2' }),
    queues: [queue],
    logger: silentLogger,
    handlers: { work: () => 'done' },
  });
  host.on('job-active', () => started.push(Date.now()));
  if (onStarted) host.on('started', () => onStarted(host));
  const watchdog = new Watchdog(host, { logger: silentLogger, intervalMs: 100, silentMs: SILENT_MS });
  return { host, watchdog, started };
}

/** Parks the worker's fetch loop for good, as a blocking wait that never settles does. */
function park(worker: Worker): { parkedAt: () => number | undefined } {
  let at: number | undefined;
  (worker as unknown as { waitForJob: () => Promise<number> }).waitForJob = () => {
    at ??= Date.now();
    return new Promise(() => {});
  };
  return { parkedAt: () => at };
}

test('a worker whose fetch loop is parked is replaced: jobs that waited run, counted and logged as a watchdog restart', async (t) => {
  const queue = uniqueQueue('watchdog');
  let parked: { parkedAt: () => number | undefined } | undefined;
  // Parked before its first fetch: the loop finds the queue empty, then waits for ever.
  const { host, started } = hostWithWatchdog(queue, (h) => (parked = park(h.bullWorkers().get(queue)!)));
  const recreated: [string, string, number][] = [];
  host.on('worker-recreated', (q, reason) => recreated.push([q, reason, Date.now()]));
  await host.start();
  t.after(() => host.stop());
  await waitFor('the fetch loop to park', () => parked?.parkedAt());

  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await core.producer.enqueue(queue, { name: 'work', data: { i } })).id);
  await waitFor('every job completed', async () => {
    const states = await Promise.all(ids.map(async (id) => (await core.inspector.getJob(queue, id))?.state));
    return states.every((s) => s === 'completed');
  }, { timeoutMs: SILENT_MS + 10_000 });

  assert.equal(host.stats.watchdogRestarts, 1);
  assert.deepEqual(recreated.map(([q, r]) => [q, r]), [[queue, 'silent']]);
  const restartAt = recreated[0]![2];
  // The proof that the worker really was silent: nothing started before the restart.
  assert.ok(started.length >= 5 && started.every((s) => s >= restartAt), 'every job started after the restart');
  assert.ok(restartAt - parked!.parkedAt()! >= SILENT_MS, 'not before the threshold');
  assert.notEqual(host.bullWorkers().get(queue), undefined);
});

test('no restart for a healthy worker under a trickle of jobs, nor for a paused queue with waiting jobs', async (t) => {
  const queue = uniqueQueue('watchdog-ok');
  const paused = uniqueQueue('watchdog-paused');
  const { host, watchdog } = hostWithWatchdog(queue);
  await host.start();
  t.after(() => host.stop());

  // Healthy: a job every 200 ms for 2 × the threshold.
  const until = Date.now() + 2 * SILENT_MS;
  while (Date.now() < until) {
    const { id } = await core.producer.enqueue(queue, { name: 'work' });
    await waitFor('job done', async () => (await core.inspector.getJob(queue, id))?.state === 'completed');
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(host.stats.watchdogRestarts, 0);

  // A paused queue fills up with nobody fetching on purpose.
  const other = hostWithWatchdog(paused);
  await other.host.start();
  t.after(() => other.host.stop());
  await core.inspector.pause(paused);
  await core.producer.enqueue(paused, { name: 'work' });
  const t0 = Date.now();
  await waitFor("2 × the threshold of checks", async () => {
    await other.watchdog.checkAll();
    return Date.now() - t0 > 2 * SILENT_MS;
  }, { timeoutMs: 4 * SILENT_MS + 5000, intervalMs: 100 });
  assert.equal(other.host.stats.watchdogRestarts, 0, 'a paused queue is not a silent worker');
  assert.equal(watchdog instanceof Watchdog, true);
});
