/**
 * What every chaos test shares: real server and worker processes on a Redis
 * URL (a sentinel URL or a proxy "endpoint"), a steady load of enqueues over
 * HTTP that records every acknowledged job id, and the final check, job by
 * job, that every acknowledged job completed, with duplicate runs counted
 * (the fixture handler test/fixtures/record-runs.ts logs each run to a file).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnConveyor, listeningUrl, type ConveyorProcess } from '../shared/testing/processes.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';

const HANDLERS = join(import.meta.dirname, 'fixtures', 'record-runs.ts');
/** SPEC: a request never hangs; anything slower than this counts as a hang. */
export const HANG_MS = 10_000;

export interface Fleet {
  queue: string;
  url: string;
  server: ConveyorProcess;
  workers: ConveyorProcess[];
  runsFile: string;
  /** Every process, for the "nobody exited" check. */
  all(): ConveyorProcess[];
  /** Loads running against this fleet (stopped by stop(), so a failed test does not keep one going). */
  loads: Load[];
  stop(): Promise<void>;
}

/** A server and `workers` worker processes on redisUrl, consuming one fresh queue with the recording handler. */
export async function startFleet(redisUrl: string, opts: { workers?: number; env?: Record<string, string> } = {}): Promise<Fleet> {
  const queue = uniqueQueue('chaos');
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-chaos-'));
  const runsFile = join(dir, 'runs.log');
  writeFileSync(runsFile, '');
  const env = {
    REDIS_URL: redisUrl,
    API_PORT: '0',
    QUEUES: queue,
    CONCURRENCY: '5',
    HANDLERS,
    CHAOS_RUNS_FILE: runsFile,
    LOCK_DURATION_MS: '4000',
    STALLED_INTERVAL_MS: '1000',
    LOG_LEVEL: 'info',
    ...opts.env,
  };
  const server = spawnConveyor('server', env);
  const workers = Array.from({ length: opts.workers ?? 2 }, () => spawnConveyor('worker', env));
  const all = () => [server, ...workers];
  try {
    const [url] = await Promise.all([listeningUrl(server), ...workers.map((w) => w.waitForLine('"worker started"', (j) => j.msg === 'worker started', 30_000))]);
    const fleet: Fleet = {
      queue,
      url: url as string,
      server,
      workers,
      runsFile,
      all,
      loads: [],
      async stop() {
        await Promise.all(fleet.loads.map((l) => l.stop()));
        await Promise.all(all().map((p) => (p.exitCode() === undefined ? p.stop('SIGKILL') : undefined)));
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return fleet;
  } catch (err) {
    for (const p of all()) if (p.exitCode() === undefined) p.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface LoadResult {
  /** Acknowledged (201) job ids → when the answer arrived (epoch ms). */
  acked: Map<string, number>;
  sent: number;
  /** Count of answers by status (0 = no answer: network error; -1 = hang past HANG_MS). */
  statuses: Map<number, number>;
  /** Statuses that are neither 201 nor 503, with the body, for the failure message. */
  unexpected: string[];
  slowestMs: number;
  /** /readyz answers sampled during the load, by status. */
  readyz: Map<number, number>;
}

export interface Load {
  /** Epoch ms of the first 201 answered after `at`. */
  firstAckAfter(at: number): Promise<number>;
  stop(): Promise<LoadResult>;
}

const bump = (m: Map<number, number>, k: number) => m.set(k, (m.get(k) ?? 0) + 1);

/**
 * POSTs "record" jobs at `rate` per second (each with its own jobId), each
 * request on its own so one slow answer does not slow the rest, and samples
 * /readyz every 250 ms.
 */
export function startLoad(fleet: Fleet, opts: { rate?: number; jobMs?: number; prefix?: string } = {}): Load {
  const rate = opts.rate ?? 30;
  const prefix = opts.prefix ?? 'j';
  const r: LoadResult = { acked: new Map(), sent: 0, statuses: new Map(), unexpected: [], slowestMs: 0, readyz: new Map() };
  const inflight = new Set<Promise<void>>();
  let running = true;
  const track = (p: Promise<void>) => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  const post = async (n: number) => {
    const jobId = `${prefix}-${n}`;
    const t0 = Date.now();
    try {
      const res = await fetch(`${fleet.url}/v1/queues/${fleet.queue}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'record', data: { ms: opts.jobMs ?? 20 }, opts: { jobId, attempts: 5, backoff: { type: 'fixed', delay: 200 } } }),
        signal: AbortSignal.timeout(HANG_MS),
      });
      const body = await res.text();
      bump(r.statuses, res.status);
      if (res.status === 201) r.acked.set(jobId, Date.now());
      else if (res.status !== 503) r.unexpected.push(`${res.status} ${body.slice(0, 300)}`);
      else if (!res.headers.get('retry-after')) r.unexpected.push(`503 without Retry-After: ${body.slice(0, 200)}`);
    } catch (err) {
      const hang = (err as Error).name === 'TimeoutError';
      bump(r.statuses, hang ? -1 : 0);
      r.unexpected.push(hang ? `request ${jobId} hung past ${HANG_MS} ms` : `request ${jobId} failed: ${String(err)}`);
    } finally {
      r.slowestMs = Math.max(r.slowestMs, Date.now() - t0);
    }
  };
  const sampleReady = async () => {
    try {
      const res = await fetch(`${fleet.url}/readyz`, { signal: AbortSignal.timeout(HANG_MS) });
      await res.arrayBuffer();
      bump(r.readyz, res.status);
    } catch {
      bump(r.readyz, -1);
    }
  };
  const started = Date.now();
  let stopped: Promise<LoadResult> | undefined;
  const loop = (async () => {
    let n = 0;
    let lastReady = 0;
    while (running) {
      // Paced against the clock, so a stall does not lower the rate afterwards.
      const due = started + (n * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      if (!running) break;
      r.sent++;
      track(post(n++));
      if (Date.now() - lastReady >= 250) {
        lastReady = Date.now();
        track(sampleReady());
      }
    }
  })();
  const load: Load = {
    async firstAckAfter(at) {
      return waitFor(`an enqueue acknowledged after ${new Date(at).toISOString()}`, () => {
        let first: number | undefined;
        for (const t of r.acked.values()) if (t > at && (first === undefined || t < first)) first = t;
        return first;
      }, { timeoutMs: 30_000, intervalMs: 20 });
    },
    stop() {
      running = false;
      stopped ??= loop.then(() => Promise.all([...inflight])).then(() => r);
      return stopped;
    },
  };
  fleet.loads.push(load);
  return load;
}

/** Waits until enqueues are acknowledged, then lets the load run steady for a few seconds before the chaos. */
export async function steady(load: Load, ms = 3000): Promise<void> {
  await load.firstAckAfter(Date.now() - 1);
  await new Promise((r) => setTimeout(r, ms));
}

export interface Outcome {
  completed: number;
  /** Acknowledged jobs not completed by the deadline, with their last state. */
  lost: { id: string; state: string }[];
  /** Runs beyond the first, summed over jobs. */
  duplicateRuns: number;
  /** Jobs that ran more than once. */
  duplicatedJobs: number;
  /** Completion time (epoch ms) of each completed job, as the new primary holds it. */
  finishedAt: Map<string, number>;
}

/** Polls the API until every acknowledged job is completed or the deadline passes; then counts runs per job. */
export async function verify(fleet: Fleet, acked: Iterable<string>, timeoutMs = 40_000): Promise<Outcome> {
  const pending = new Set(acked);
  const finishedAt = new Map<string, number>();
  const lastState = new Map<string, string>();
  const deadline = Date.now() + timeoutMs;
  while (pending.size > 0 && Date.now() < deadline) {
    const ids = [...pending];
    for (let i = 0; i < ids.length; i += 25) {
      await Promise.all(
        ids.slice(i, i + 25).map(async (id) => {
          try {
            const res = await fetch(`${fleet.url}/v1/queues/${fleet.queue}/jobs/${encodeURIComponent(id)}`, { signal: AbortSignal.timeout(HANG_MS) });
            const body = (await res.json()) as { state?: string; finishedAt?: string | null; error?: { code: string } };
            const state = res.status === 200 ? String(body.state) : `HTTP ${res.status} ${body.error?.code ?? ''}`;
            lastState.set(id, state);
            if (state === 'completed') {
              pending.delete(id);
              finishedAt.set(id, Date.parse(String(body.finishedAt)));
            }
          } catch (err) {
            lastState.set(id, `request failed: ${String(err)}`);
          }
        }),
      );
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 250));
  }
  const runs = new Map<string, number>();
  for (const line of readFileSync(fleet.runsFile, 'utf8').split('\n')) {
    const id = line.split(' ')[0];
    if (id) runs.set(id, (runs.get(id) ?? 0) + 1);
  }
  let duplicateRuns = 0;
  let duplicatedJobs = 0;
  for (const id of finishedAt.keys()) {
    const n = runs.get(id) ?? 0;
    if (n > 1) {
      duplicateRuns += n - 1;
      duplicatedJobs++;
    }
  }
  return {
    completed: finishedAt.size,
    lost: [...pending].map((id) => ({ id, state: lastState.get(id) ?? 'never answered' })),
    duplicateRuns,
    duplicatedJobs,
    finishedAt,
  };
}

/** Per worker process: ms from `at` to its first job run after it (undefined: it ran none). */
export function workerResumeMs(fleet: Fleet, at: number): Map<number, number | undefined> {
  const first = new Map<number, number | undefined>(fleet.workers.map((w) => [w.proc.pid!, undefined]));
  for (const line of readFileSync(fleet.runsFile, 'utf8').split('\n')) {
    const [, t, pid] = line.split(' ');
    const ms = Number(t) - at;
    const p = Number(pid);
    if (!first.has(p) || !(ms >= 0)) continue;
    const cur = first.get(p);
    if (cur === undefined || ms < cur) first.set(p, ms);
  }
  return first;
}

/** ms from `upAt` (a new primary is up) to the first job completion the new primary records after it. */
export function recoveryMs(outcome: Outcome, upAt: number): number | undefined {
  let first: number | undefined;
  for (const t of outcome.finishedAt.values()) if (t >= upAt && (first === undefined || t < first)) first = t;
  return first === undefined ? undefined : first - upAt;
}

export interface Summary {
  scenario: string;
  load: LoadResult;
  outcome: Outcome;
  recoveryMs: number | undefined;
  /** ms from the new primary up to the first 201 after it. */
  enqueueRecoveryMs?: number | undefined;
  /** Per worker process: ms from the new primary up to its first job run (workerResumeMs). */
  workerResumeMs?: Map<number, number | undefined>;
  extra?: Record<string, unknown>;
}

/** Self-healing the processes logged: watchdog restarts, revived connections, connections moved off a replica. */
function healing(fleet: Fleet): Record<string, number> {
  const count = (re: RegExp) => fleet.all().reduce((n, p) => n + p.lines.filter((l) => re.test(String(l.json?.msg ?? ''))).length, 0);
  return {
    watchdogRestarts: count(/: replacing it$/),
    revivedConnections: count(/ended without being closed/),
    leftReplica: count(/not a writable primary/),
  };
}

/** One line per scenario, greppable in the test output. */
export function printSummary(s: Summary, fleet?: Fleet): void {
  const fields = {
    acknowledged: s.load.acked.size,
    completed: s.outcome.completed,
    lost: s.outcome.lost.length,
    duplicateRuns: s.outcome.duplicateRuns,
    duplicatedJobs: s.outcome.duplicatedJobs,
    sent: s.load.sent,
    '503': s.load.statuses.get(503) ?? 0,
    slowestRequestMs: s.load.slowestMs,
    recoveryMs: s.recoveryMs ?? 'none',
    enqueueRecoveryMs: s.enqueueRecoveryMs ?? 'n/a',
    workerResumeMs: s.workerResumeMs ? [...s.workerResumeMs.values()].map((v) => v ?? 'never').join('/') : 'n/a',
    readyz: Object.fromEntries(s.load.readyz),
    ...(fleet ? healing(fleet) : {}),
    ...s.extra,
  };
  console.log(`[chaos] ${s.scenario}: ${Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' ')}`);
}

/**
 * What every scenario asserts: nobody exited, no answer other than 201 / 503
 * (503 with Retry-After), nothing hung, processing came back within 10 s of the
 * new primary, and (unless the scenario reports loss as a figure) every
 * acknowledged job completed.
 */
export function assertHealthy(fleet: Fleet, s: Summary, opts: { allowLoss?: boolean; recoveryLimitMs?: number } = {}): void {
  for (const p of fleet.all()) assert.equal(p.exitCode(), undefined, `${p.kind} (pid ${p.proc.pid}) exited:\n${p.lines.slice(-20).map((l) => l.raw).join('\n')}`);
  assert.deepEqual(s.load.unexpected.slice(0, 10), [], 'only 201 and 503 (with Retry-After) answers, no hang');
  for (const status of s.load.statuses.keys()) assert.ok(status === 201 || status === 503, `unexpected status ${status}`);
  assert.ok(s.load.slowestMs < HANG_MS, `a request took ${s.load.slowestMs} ms`);
  for (const status of s.load.readyz.keys()) assert.ok(status === 200 || status === 503, `/readyz answered ${status}`);
  assert.ok(s.load.acked.size >= s.load.sent * 0.3, `only ${s.load.acked.size} of ${s.load.sent} enqueues were acknowledged`);
  if (!opts.allowLoss) assert.deepEqual(s.outcome.lost.slice(0, 10), [], `${s.outcome.lost.length} acknowledged jobs did not complete`);
  const limit = opts.recoveryLimitMs ?? 10_000;
  assert.ok(s.recoveryMs !== undefined && s.recoveryMs <= limit, `processing resumed ${s.recoveryMs ?? 'never'} ms after the new primary was up (limit ${limit} ms)`);
  // Every worker process, not just one of them, came back (bullmq #4585: some stay parked).
  for (const [pid, ms] of s.workerResumeMs ?? []) assert.ok(ms !== undefined && ms <= limit, `worker ${pid} ran its first job ${ms ?? 'never'} ms after the new primary was up`);
}
