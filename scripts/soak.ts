/**
 * npm run soak: N noop jobs (1,000,000 by default) through one worker
 * process, on a Redis of its own (spawned on a free port, like the tests).
 *
 *   1. Redis memory empty, then with every job waiting: memory per waiting job.
 *   2. One worker process (CONCURRENCY 50) runs them all; every few seconds
 *      the worker's RSS, Redis used_memory and the queue's counts are sampled.
 *   3. At the end: Redis memory against the empty baseline (the retention
 *      defaults keep the last 1000 completed jobs and BullMQ's event stream),
 *      memory per completed job kept, and the worker's RSS growth after warm-up.
 *
 * It fails (exit 1) when the worker's RSS grows more than SOAK_RSS_BOUND_MB
 * after warm-up (the first 20% of jobs; mean of the last quarter of the
 * samples minus the mean of the first quarter, so a GC peak is not growth) or when Redis ends more than SOAK_REDIS_BOUND_MB
 * above its baseline. Writes soak/results/soak-<time>.{json,md}.
 *
 * Settings (environment): SOAK_JOBS, SOAK_CONCURRENCY (50), SOAK_SAMPLE_MS
 * (5000), SOAK_RSS_BOUND_MB (64), SOAK_REDIS_BOUND_MB (32).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRedis } from '../shared/testing/redis-process.ts';
import { spawnConveyor } from '../shared/testing/processes.ts';
import { testConfig, openCore } from '../shared/testing/fixtures.ts';
import { parseInfo } from '../shared/metrics/redis-gauges.ts';

const num = (name: string, def: number) => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : def;
};
const JOBS = num('SOAK_JOBS', 1_000_000);
const CONCURRENCY = num('SOAK_CONCURRENCY', 50);
const SAMPLE_MS = num('SOAK_SAMPLE_MS', 5000);
const RSS_BOUND_MB = num('SOAK_RSS_BOUND_MB', 64);
const REDIS_BOUND_MB = num('SOAK_REDIS_BOUND_MB', 32);
const BULK = 1000;
const QUEUE = 'soak';
const MB = 1024 * 1024;

interface Sample {
  t: number;
  rssMB: number;
  redisMB: number;
  waiting: number;
  active: number;
  completed: number;
  processed: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

const redis = await startRedis();
const client = redis.client();
const usedMemory = async () => Number(parseInfo(String(await client.info('memory'))).get('used_memory'));
const started = Date.now();
const log = (msg: string) => process.stdout.write(`[soak ${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${msg}\n`);

const config = testConfig(redis.url);
const core = await openCore(config);
let worker: ReturnType<typeof spawnConveyor> | undefined;
try {
  const baseline = await usedMemory();
  log(`redis ${redis.url}, baseline used_memory ${(baseline / MB).toFixed(2)} MB; enqueueing ${JOBS} noop jobs`);

  // 1. Enqueue everything with no worker: memory per waiting job.
  const t0 = Date.now();
  let next = 0;
  const pushers = Array.from({ length: 4 }, async () => {
    while (next < JOBS) {
      const n = Math.min(BULK, JOBS - next);
      next += n;
      await core.producer.enqueueBulk(QUEUE, Array.from({ length: n }, () => ({ name: 'noop', data: {} })));
    }
  });
  await Promise.all(pushers);
  const enqueueSeconds = (Date.now() - t0) / 1000;
  const waitingMem = await usedMemory();
  const perWaiting = (waitingMem - baseline) / JOBS;
  log(`enqueued in ${enqueueSeconds.toFixed(1)} s (${Math.round(JOBS / enqueueSeconds)} jobs/s); used_memory ${(waitingMem / MB).toFixed(1)} MB: ${perWaiting.toFixed(0)} bytes per waiting job`);

  // 2. One worker process runs them; sample as it goes.
  worker = spawnConveyor('worker', { REDIS_URL: redis.url, QUEUES: QUEUE, CONCURRENCY: String(CONCURRENCY), LOG_LEVEL: 'warn' });
  const pid = worker.proc.pid!;
  const samples: Sample[] = [];
  const t1 = Date.now();
  for (;;) {
    await sleep(SAMPLE_MS);
    if (worker.exitCode() !== undefined) throw new Error(`the worker exited (${worker.exitCode()}): ${worker.lines.slice(-5).map((l) => l.raw).join('\n')}`);
    const s = await core.inspector.summary(QUEUE);
    const sample: Sample = {
      t: (Date.now() - t1) / 1000,
      rssMB: rssOf(pid) / MB,
      redisMB: (await usedMemory()) / MB,
      waiting: s.counts.waiting,
      active: s.counts.active,
      completed: s.counts.completed,
      processed: JOBS - s.counts.waiting - s.counts.active,
    };
    samples.push(sample);
    log(`processed ${sample.processed} (${Math.round(sample.processed / sample.t)}/s), worker RSS ${sample.rssMB.toFixed(1)} MB, redis ${sample.redisMB.toFixed(1)} MB`);
    if (sample.waiting === 0 && sample.active === 0) break;
  }
  const processSeconds = (Date.now() - t1) / 1000;

  // 3. Back to baseline? What stays is what the retention defaults keep.
  await worker.stop('SIGTERM');
  const endMem = await usedMemory();
  const summary = await core.inspector.summary(QUEUE);
  const kept = summary.counts.completed;
  const completedIds = (await client.zrange(`conveyor:{${QUEUE}}:completed`, '0', '49')) as string[];
  let jobBytes = 0;
  for (const id of completedIds) jobBytes += Number(await client.call('MEMORY', 'USAGE', `conveyor:{${QUEUE}}:${id}`, 'SAMPLES', '0'));
  const zsetBytes = Number(await client.call('MEMORY', 'USAGE', `conveyor:{${QUEUE}}:completed`, 'SAMPLES', '0'));
  const perKept = completedIds.length ? jobBytes / completedIds.length + zsetBytes / Math.max(1, kept) : 0;
  const eventsBytes = Number(await client.call('MEMORY', 'USAGE', `conveyor:{${QUEUE}}:events`, 'SAMPLES', '0'));
  const eventsLen = Number(await client.xlen(`conveyor:{${QUEUE}}:events`));

  const warm = samples.find((s) => s.processed >= JOBS * 0.2) ?? samples[0]!;
  const afterWarm = samples.filter((s) => s.t >= warm.t);
  const rssMax = Math.max(...afterWarm.map((s) => s.rssMB));
  // RSS saws up and down with garbage collection; growth is the trend, not one peak:
  // the mean of the last quarter of the samples after warm-up minus the mean of the first quarter.
  const quarter = Math.max(1, Math.floor(afterWarm.length / 4));
  const mean = (xs: Sample[]) => xs.reduce((n, s) => n + s.rssMB, 0) / xs.length;
  const rssGrowth = mean(afterWarm.slice(-quarter)) - mean(afterWarm.slice(0, quarter));
  const redisAbove = (endMem - baseline) / MB;
  const ok = rssGrowth <= RSS_BOUND_MB && redisAbove <= REDIS_BOUND_MB && kept <= 1000;

  const report = {
    date: new Date().toISOString(),
    jobs: JOBS,
    concurrency: CONCURRENCY,
    node: process.version,
    redis: String(parseInfo(String(await client.info('server'))).get('redis_version')),
    enqueueSeconds,
    enqueuePerSecond: Math.round(JOBS / enqueueSeconds),
    processSeconds,
    processPerSecond: Math.round(JOBS / processSeconds),
    redisBaselineMB: baseline / MB,
    redisWithAllWaitingMB: waitingMem / MB,
    bytesPerWaitingJob: Math.round(perWaiting),
    redisAfterMB: endMem / MB,
    redisAboveBaselineMB: redisAbove,
    completedKept: kept,
    bytesPerCompletedJobKept: Math.round(perKept),
    eventStream: { entries: eventsLen, bytes: eventsBytes },
    workerRssAtWarmupMB: warm.rssMB,
    workerRssMaxAfterWarmupMB: rssMax,
    workerRssGrowthAfterWarmupMB: rssGrowth,
    bounds: { rssGrowthMB: RSS_BOUND_MB, redisAboveBaselineMB: REDIS_BOUND_MB },
    ok,
    samples,
  };
  const dir = join(import.meta.dirname, '..', 'soak', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, '-');
  writeFileSync(join(dir, `soak-${stamp}.json`), JSON.stringify(report, null, 2));
  const md = [
    `# Soak ${report.date}`,
    '',
    `${JOBS} noop jobs, one worker process (CONCURRENCY ${CONCURRENCY}), Node ${report.node}, Redis ${report.redis}.`,
    '',
    '| figure | value |',
    '| --- | --- |',
    `| enqueue (library, bulk of ${BULK}, 4 at once) | ${report.enqueuePerSecond} jobs/s |`,
    `| processing, one worker process | ${report.processPerSecond} jobs/s |`,
    `| Redis memory per waiting job | ${report.bytesPerWaitingJob} bytes |`,
    `| Redis memory per completed job kept | ${report.bytesPerCompletedJobKept} bytes (${kept} kept: removeOnComplete 1000 / 24 h) |`,
    `| BullMQ event stream at the end | ${eventsLen} entries, ${(eventsBytes / MB).toFixed(2)} MB |`,
    `| Redis above the empty baseline at the end | ${redisAbove.toFixed(2)} MB (bound ${REDIS_BOUND_MB} MB) |`,
    `| worker RSS after warm-up (20% of jobs) | ${Math.min(...afterWarm.map((s) => s.rssMB)).toFixed(1)}-${rssMax.toFixed(1)} MB (GC sawtooth); growth, mean of the last quarter minus the first: ${rssGrowth.toFixed(1)} MB (bound ${RSS_BOUND_MB} MB) |`,
    `| verdict | ${ok ? 'within bounds' : 'OUT OF BOUNDS'} |`,
    '',
  ].join('\n');
  writeFileSync(join(dir, `soak-${stamp}.md`), md);
  process.stdout.write(`\n${md}\nreport: soak/results/soak-${stamp}.{json,md}\n`);
  process.exitCode = ok ? 0 : 1;
} finally {
  if (worker && worker.exitCode() === undefined) await worker.stop('SIGKILL').catch(() => {});
  await core.close();
  await redis.stop();
}
