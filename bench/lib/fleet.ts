/**
 * Worker processes for the benchmark: real Conveyor workers (the compiled
 * `conveyor worker`, as in production: node bin/conveyor.js, dist/)
 * and the plain BullMQ baseline (bench/baseline/bull-worker.ts), started the
 * same way, and a neutral readiness check: Redis itself reports the workers'
 * blocking connections waiting for jobs.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { spawnConveyor, type ConveyorProcess } from '../../shared/testing/processes.ts';
import { waitFor } from '../../shared/testing/wait-for.ts';
import { reapOnExit } from '../../shared/testing/reaper.ts';

const ROOT = join(import.meta.dirname, '..', '..');

export type Side = 'conveyor' | 'bullmq';

export interface BenchWorker {
  pid: number | undefined;
  stop(): Promise<unknown>;
}

export interface FleetOptions {
  /** Conveyor: REDIS_URL; baseline: the port of a standalone Redis. */
  redisUrl: string;
  redisPort?: number;
  queues: readonly string[];
  concurrency: number;
  /** Extra environment (HANDLERS...). */
  env?: Record<string, string>;
  /** Node flags (--cpu-prof...). */
  execArgv?: readonly string[];
}

function conveyorWorker(o: FleetOptions): { proc: ConveyorProcess; ready: Promise<unknown> } {
  const proc = spawnConveyor('worker', {
    REDIS_URL: o.redisUrl,
    QUEUES: o.queues.join(','),
    CONCURRENCY: String(o.concurrency),
    LOG_LEVEL: 'info',
    ...o.env,
  }, o.execArgv, { compiled: true });
  reapOnExit(proc.proc); // a failed run leaves no worker behind
  return { proc, ready: proc.waitForLine('"worker started"', (j) => j.msg === 'worker started', 30_000) };
}

/**
 * Starts one of the bench/baseline scripts; `ready` resolves with the first
 * JSON line whose msg is readyMsg.
 */
export function spawnBaseline(script: string, env: Record<string, string>, readyMsg: string, execArgv: readonly string[] = []): { worker: BenchWorker; ready: Promise<Record<string, unknown>> } {
  const proc = spawn(process.execPath, [...execArgv, '--import', 'tsx', join(ROOT, 'bench', 'baseline', script)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  reapOnExit(proc);
  let out = '';
  let exited: number | string | undefined;
  const gone = new Promise<void>((r) => proc.once('exit', (c, s) => ((exited = c ?? s ?? 'unknown'), r())));
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const ready = waitFor(`${script} to be ready`, () => {
    if (exited !== undefined) throw new Error(`${script} exited (${exited}): ${out.slice(-800)}`);
    for (const line of out.split('\n')) {
      if (!line.includes(`"msg":"${readyMsg}"`)) continue;
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        // a partial line: next poll
      }
    }
    return undefined;
  }, { timeoutMs: 30_000, intervalMs: 20 });
  const worker: BenchWorker = {
    pid: proc.pid,
    async stop() {
      if (exited === undefined) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
    },
  };
  return { worker, ready };
}

function baselineWorker(o: FleetOptions): { worker: BenchWorker; ready: Promise<unknown> } {
  const env = { BENCH_REDIS_PORT: String(o.redisPort), BENCH_QUEUES: o.queues.join(','), BENCH_CONCURRENCY: String(o.concurrency), ...o.env };
  return spawnBaseline('bull-worker.ts', env, 'ready', o.execArgv);
}

/** Starts n worker processes of one side and waits until each has logged that it started. */
export async function startFleet(side: Side, n: number, o: FleetOptions): Promise<BenchWorker[]> {
  const started = Array.from({ length: n }, () => {
    if (side === 'bullmq') return baselineWorker(o);
    const { proc, ready } = conveyorWorker(o);
    return { worker: { pid: proc.proc.pid, stop: () => proc.stop('SIGTERM', 40_000) } satisfies BenchWorker, ready };
  });
  try {
    await Promise.all(started.map((s) => s.ready));
  } catch (err) {
    await stopFleet(started.map((s) => s.worker));
    throw err;
  }
  return started.map((s) => s.worker);
}

export async function stopFleet(workers: readonly BenchWorker[]): Promise<void> {
  await Promise.allSettled(workers.map((w) => w.stop()));
}

/** Clients blocked in BZPOPMIN (BullMQ workers waiting for a job), over the given node connections. */
export async function blockedClients(nodes: readonly Redis[]): Promise<number> {
  let n = 0;
  for (const c of nodes) {
    const list = String(await c.call('CLIENT', 'LIST', 'TYPE', 'normal'));
    n += list.split('\n').filter((l) => /\bcmd=bzpopmin\b/.test(l)).length;
  }
  return n;
}

/** Waits until at least `n` BullMQ workers are waiting for jobs. */
export function waitBlocked(nodes: readonly Redis[], n: number, timeoutMs = 20_000): Promise<number> {
  return waitFor(`${n} workers waiting for jobs`, async () => {
    const b = await blockedClients(nodes);
    return b >= n ? b : undefined;
  }, { timeoutMs, intervalMs: 20 });
}
