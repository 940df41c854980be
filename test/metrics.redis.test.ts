/**
 * /metrics on the API server and on a real worker process (METRICS_PORT):
 * the metrics the issue lists are there, with bounded labels (no job id; an
 * unknown job name is "other"), and the text passes `promtool check metrics`.
 * The shipped alert rules pass `promtool check rules`, and every metric the
 * rules and the Grafana dashboard use is one Conveyor exports.
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { spawnConveyor, type ConveyorProcess } from '../shared/testing/processes.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { startApi, type Api } from './api-app.ts';

const ROOT = join(import.meta.dirname, '..');
const PROMTOOL = spawnSync('promtool', ['--version']).status === 0;
const ABSENT = 'promtool is not installed (Debian package "prometheus"): this check is skipped';

let redis: RedisProcess;
let api: Api;
let worker: ConveyorProcess;
let workerUrl: string;
const q = uniqueQueue('metrics');

before(async () => {
  redis = await startRedis();
  api = await startApi(redis.url);
  worker = spawnConveyor('worker', { REDIS_URL: redis.url, QUEUES: q, METRICS_PORT: '0', METRICS_HOST: '127.0.0.1', CONCURRENCY: '5' });
  const line = await worker.waitForLine('metrics listening', (j) => j.msg === 'metrics listening');
  workerUrl = `http://127.0.0.1:${line.port}`;
  await worker.waitForLine('worker started', (j) => j.msg === 'worker started');
});
after(async () => {
  await worker?.stop();
  await api?.close();
  await redis?.stop();
});

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** `name{labels} value` lines of one metric. */
function series(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  return series(text, name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

function promtoolCheckMetrics(t: TestContext, text: string): void {
  if (!PROMTOOL) {
    t.diagnostic(ABSENT);
    return;
  }
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
}

test('the worker counts jobs by queue and job name: processed, failed, retried, dead-lettered, durations, wait; unknown names are "other"', async (t) => {
  await api.producer.enqueueBulk(q, [
    { name: 'noop', data: { secret: 'job-data-1' } },
    { name: 'noop' },
    { name: 'sleep', data: { ms: 30 } },
    { name: 'fail', data: { times: 1 }, opts: { attempts: 2, backoff: { type: 'fixed', delay: 10 } } },
    { name: 'fail', opts: { attempts: 2, backoff: { type: 'fixed', delay: 10 } } },
    { name: 'no-such-handler-7f3a', opts: { attempts: 1 } },
  ]);
  let text = '';
  await waitFor('the worker to finish the jobs', async () => {
    text = await scrape(workerUrl);
    return (value(text, 'conveyor_jobs_dead_lettered_total', { queue: q, name: 'fail' }) ?? 0) >= 1 &&
      (value(text, 'conveyor_jobs_processed_total', { queue: q, name: 'noop' }) ?? 0) >= 2 &&
      (value(text, 'conveyor_jobs_processed_total', { queue: q, name: 'fail' }) ?? 0) >= 4 &&
      (value(text, 'conveyor_jobs_processed_total', { queue: q, name: 'other' }) ?? 0) >= 1 &&
      (value(text, 'conveyor_jobs_processed_total', { queue: q, name: 'sleep' }) ?? 0) >= 1 &&
      value(text, 'conveyor_queue_jobs', { queue: q, state: 'dead' }) === 2; // buried just after the failed event
  }, { timeoutMs: 15_000 });

  assert.equal(value(text, 'conveyor_jobs_processed_total', { queue: q, name: 'noop' }), 2);
  assert.equal(value(text, 'conveyor_jobs_failed_total', { queue: q, name: 'noop' }), 0);
  // fail×{times:1} fails once then succeeds; fail×all fails twice then is dead: 4 attempts, 3 failed, 2 retried, 1 dead
  assert.equal(value(text, 'conveyor_jobs_processed_total', { queue: q, name: 'fail' }), 4);
  assert.equal(value(text, 'conveyor_jobs_failed_total', { queue: q, name: 'fail' }), 3);
  assert.equal(value(text, 'conveyor_jobs_retried_total', { queue: q, name: 'fail' }), 2);
  assert.equal(value(text, 'conveyor_jobs_dead_lettered_total', { queue: q, name: 'fail' }), 1);
  assert.equal(value(text, 'conveyor_jobs_dead_lettered_total', { queue: q, name: 'other' }), 1, 'a name without a handler is labelled "other"');
  assert.equal(series(text, 'conveyor_jobs_processed_total').filter((s) => s.labels.name === 'no-such-handler-7f3a').length, 0);
  // histograms: one observation per attempt; the sleep job took at least 30 ms
  assert.equal(value(text, 'conveyor_job_duration_seconds_count', { queue: q, name: 'sleep' }), 1);
  assert.ok(value(text, 'conveyor_job_duration_seconds_sum', { queue: q, name: 'sleep' })! >= 0.025);
  assert.equal(value(text, 'conveyor_job_duration_seconds_bucket', { queue: q, name: 'sleep', le: '0.01' }), 0);
  // wait: first attempts only
  assert.equal(value(text, 'conveyor_job_wait_seconds_count', { queue: q, name: 'noop' }), 2);
  assert.equal(value(text, 'conveyor_job_wait_seconds_count', { queue: q, name: 'fail' }), 2);
  assert.equal(value(text, 'conveyor_worker_concurrency'), 5);
  assert.equal(value(text, 'conveyor_worker_running'), 1);
  assert.equal(value(text, 'conveyor_watchdog_restarts_total', { queue: q }), 0);
  assert.ok(value(text, 'process_resident_memory_bytes')! > 0, 'process metrics');
  // the worker's view of its own queue and of Redis
  assert.equal(value(text, 'conveyor_queue_jobs', { queue: q, state: 'dead' }), 2);
  assert.equal(value(text, 'conveyor_queue_workers', { queue: q }), 1);
  assert.equal(value(text, 'conveyor_redis_up'), 1);
  assert.equal(value(text, 'conveyor_redis_role', { role: 'master' }), 1);
  // never a job id, never a payload
  const ids = (await api.inspector.listJobs(q, 'completed', 0, 50)).jobs.map((j) => j.id);
  for (const id of ids) assert.ok(!text.includes(id), `job id ${id} in the metrics`);
  assert.ok(!text.includes('job-data-1'));
  promtoolCheckMetrics(t, text);
});

test('the server exports queue depth, oldest waiting age, workers, enqueue outcomes, Redis and schedule gauges', async (t) => {
  const idle = uniqueQueue('metrics-idle');
  const t0 = Date.now();
  await api.producer.enqueue(idle, { name: 'noop' });
  await api.call('POST', `/v1/queues/${idle}/jobs`, { body: { name: 'noop' } });
  await api.call('POST', `/v1/queues/${idle}/jobs`, { body: { name: 3 } });
  const sched = await api.call('PUT', '/v1/schedules/metrics-every-hour', { body: { queue: idle, name: 'noop', cron: '0 * * * *' } });
  assert.equal(sched.status, 201, sched.text);
  await waitFor('the oldest job to be 50 ms old', () => Date.now() - t0 > 60);
  const scrapedFrom = Date.now();
  const text = await scrape(api.url);
  const scrapedBy = Date.now();
  assert.equal(value(text, 'conveyor_queue_jobs', { queue: idle, state: 'waiting' }), 2);
  assert.equal(value(text, 'conveyor_queue_jobs', { queue: idle, state: 'dead' }), 0);
  const age = value(text, 'conveyor_queue_oldest_waiting_seconds', { queue: idle })!;
  // In seconds, not ms: at least the 60 ms waited, at most the time since before the first enqueue (however slow the run).
  assert.ok(age >= 0.05 && age <= (scrapedBy - t0) / 1000 + 0.001, `oldest waiting ${age} s, ${scrapedBy - t0} ms after the first enqueue`);
  assert.equal(value(text, 'conveyor_queue_workers', { queue: idle }), 0, 'no worker consumes it');
  assert.equal(value(text, 'conveyor_queue_workers', { queue: q }), 1, 'the spawned worker consumes q');
  assert.ok(value(text, 'conveyor_enqueue_total', { outcome: 'created' })! >= 1);
  assert.ok(value(text, 'conveyor_enqueue_total', { outcome: 'rejected' })! >= 1);
  assert.ok(value(text, 'conveyor_enqueue_requests_total', { outcome: 'created' })! >= 1);
  assert.ok(value(text, 'conveyor_enqueue_requests_total', { outcome: 'rejected' })! >= 1);
  assert.equal(value(text, 'conveyor_redis_up'), 1);
  assert.equal(value(text, 'conveyor_redis_noeviction'), 1, 'noeviction is Redis\'s default policy');
  // A PING during the scrape, in seconds: no longer than the scrape itself took.
  const roundTrip = value(text, 'conveyor_redis_roundtrip_seconds')!;
  assert.ok(roundTrip >= 0 && roundTrip <= (scrapedBy - scrapedFrom) / 1000 + 0.001, `round trip ${roundTrip} s in a scrape of ${scrapedBy - scrapedFrom} ms`);
  assert.ok(value(text, 'conveyor_redis_memory_used_bytes')! > 0);
  assert.equal(value(text, 'conveyor_redis_connected_replicas'), 0);
  assert.equal(value(text, 'conveyor_redis_reconnects_total'), 0);
  assert.equal(value(text, 'conveyor_redis_failovers_total'), 0);
  const next = value(text, 'conveyor_schedule_next_run_timestamp_seconds', { schedule: 'metrics-every-hour', queue: idle })!;
  // The next top of the hour after the scrape: bounded by the times around the scrape, not by "now" at the assertion.
  assert.ok(next * 1000 > scrapedFrom && next * 1000 <= scrapedBy + 3600_000 && (next * 1000) % 3600_000 === 0, `next run ${next}`);
  assert.equal(value(text, 'conveyor_schedule_healthy', { schedule: 'metrics-every-hour' }), 1);
  promtoolCheckMetrics(t, text);
});

test('every metric the alert rules and the Grafana dashboard use is exported', async () => {
  const exported = new Set<string>();
  for (const text of [await scrape(api.url), await scrape(workerUrl)]) {
    for (const m of text.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
      exported.add(m[1]!);
      if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(m[1]! + s);
    }
  }
  const alerts = readFileSync(join(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8');
  const dashboard = readFileSync(join(ROOT, 'deploy/grafana/conveyor.json'), 'utf8');
  const board = JSON.parse(dashboard) as { panels: { targets?: { expr: string }[] }[] };
  const exprs = board.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  assert.ok(exprs.length >= 20, 'the dashboard has panels with queries');
  const used = new Set<string>();
  for (const text of [alerts, ...exprs]) for (const m of text.matchAll(/\b((?:conveyor|process|nodejs)_[a-z0-9_]+)\b/g)) used.add(m[1]!);
  const missing = [...used].filter((n) => !exported.has(n));
  assert.deepEqual(missing, [], 'metrics used by alerts.yml or conveyor.json that nobody exports');
  for (const alert of ['ConveyorQueueNoConsumer', 'ConveyorOldestJobTooOld', 'ConveyorDeadLettersGrowing', 'ConveyorFailureRatioHigh', 'ConveyorRedisDown', 'ConveyorRedisEvictionPolicy', 'ConveyorRedisReplicaLag', 'ConveyorWorkerWatchdogRestarts', 'ConveyorScheduleMissedRun']) {
    assert.match(alerts, new RegExp(`alert: ${alert}\\b`));
  }
});

test('promtool check rules accepts deploy/prometheus/alerts.yml', (t) => {
  if (!PROMTOOL) {
    t.skip(ABSENT);
    return;
  }
  const r = spawnSync('promtool', ['check', 'rules', join(ROOT, 'deploy/prometheus/alerts.yml')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS: \d+ rules found/);
});

test('the worker metrics port answers 404/405 as JSON, and /healthz', async () => {
  const nf = await fetch(`${workerUrl}/nope`);
  assert.equal(nf.status, 404);
  assert.equal(((await nf.json()) as any).error.code, 'NOT_FOUND');
  const post = await fetch(`${workerUrl}/metrics`, { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(((await post.json()) as any).error.code, 'METHOD_NOT_ALLOWED');
  assert.equal((await fetch(`${workerUrl}/healthz`)).status, 200);
});

test('reconnects are counted: after Redis drops the server\'s connection, conveyor_redis_reconnects_total grows', async () => {
  const before = value(await scrape(api.url), 'conveyor_redis_reconnects_total') ?? 0;
  await redis.client().call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
  await waitFor('the reconnect to be counted', async () => (value(await scrape(api.url), 'conveyor_redis_reconnects_total') ?? 0) > before, { timeoutMs: 10_000 });
});
