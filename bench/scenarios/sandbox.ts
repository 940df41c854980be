/**
 * Sandboxed handlers (`--only sandbox`): jobs defined with isolation 'thread'
 * and 'process' beside the same jobs in the worker's process ('none'), in one
 * compiled `conveyor worker --jobs bench/handlers/sandbox-jobs.mjs` process:
 *  - throughput at concurrency 4 of noop jobs and of 5 ms CPU-bound jobs (a
 *    busy loop), each sandboxed mode as a ratio to in-process: what a
 *    sandbox costs per job (an IPC round trip, or a thread message, each
 *    way), and what it buys a CPU-bound job (more than one core);
 *  - where sandboxing wins: the wait (enqueue → start, p50/p99) of short
 *    in-process jobs (bench/handlers/latency.ts `stamp`, on a queue of their
 *    own, 100/s) while 5 ms CPU-bound jobs keep the worker's other queue busy
 *    at concurrency 2: in-process, each CPU job blocks the event loop the
 *    short jobs need; sandboxed, it runs elsewhere.
 * The sandboxes are warmed up before each measurement (their start is a
 * one-off cost of ~50-100 ms per child, not a per-job one).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import { startRedis, type RedisProcess } from '../../shared/testing/redis-process.ts';
import { openCore, testConfig, type Core } from '../../shared/testing/fixtures.ts';
import { spawnConveyor } from '../../shared/testing/processes.ts';
import { reapOnExit } from '../../shared/testing/reaper.ts';
import { waitFor } from '../../shared/testing/wait-for.ts';
import type { BenchContext } from '../lib/context.ts';
import { benchQueueName, drained, fill, jobOpts, plainQueue } from '../lib/jobs.ts';
import { makeRow, type Row } from '../lib/report.ts';
import { percentile } from '../lib/stats.ts';
import { wallMs } from '../handlers/latency.ts';

const JOBS = join(import.meta.dirname, '..', 'handlers', 'sandbox-jobs.mjs');
const STAMP = join(import.meta.dirname, '..', 'handlers', 'latency.ts');
const ISOLATIONS = ['none', 'thread', 'process'] as const;
type Iso = (typeof ISOLATIONS)[number];
const KINDS = ['noop', 'cpu'] as const;
type Kind = (typeof KINDS)[number];
const CONCURRENCY = 4;
/** The CPU queue's concurrency while short jobs are measured beside it. */
const CPU_BESIDE = 2;
const STAMP_RATE = 100;

interface Setup {
  /** Throughput queues: kind → isolation → queue. */
  tq: Record<Kind, Record<Iso, Queue>>;
  /** Wait measurement, per isolation of the CPU jobs: their queue and the short jobs' queue. */
  wq: Record<Iso, { cpu: Queue; short: Queue }>;
  stop(): Promise<unknown>;
  pid: number | undefined;
}

/** One worker process consuming every queue of the scenario; each queue is paused until its measurement. */
async function startWorker(redis: RedisProcess, ctx: BenchContext): Promise<Setup> {
  const admin = redis.client();
  const q = (what: string) => plainQueue(admin, benchQueueName(`sandbox-${what}`));
  const tq = Object.fromEntries(KINDS.map((k) => [k, Object.fromEntries(ISOLATIONS.map((i) => [i, q(`${k}-${i}`)]))])) as Setup['tq'];
  const wq = Object.fromEntries(ISOLATIONS.map((i) => [i, { cpu: q(`beside-${i}`), short: q(`short-${i}`) }])) as Setup['wq'];
  const all = [...KINDS.flatMap((k) => ISOLATIONS.map((i) => tq[k][i])), ...ISOLATIONS.flatMap((i) => [wq[i].cpu, wq[i].short])];
  for (const x of all) await x.pause();
  // BullMQ's queue-wide concurrency (Conveyor's per-queue limit): the CPU jobs beside the short ones run 2 at a time.
  for (const i of ISOLATIONS) await wq[i].cpu.setGlobalConcurrency(CPU_BESIDE);
  const proc = spawnConveyor('worker', {
    REDIS_URL: redis.url,
    QUEUES: all.map((x) => x.name.slice(1, -1)).join(','),
    CONCURRENCY: String(CONCURRENCY),
    HANDLERS: STAMP,
    LOG_LEVEL: 'warn',
  }, ctx.childArgs, { compiled: true, args: ['--jobs', JOBS] });
  reapOnExit(proc.proc);
  // LOG_LEVEL warn: "worker started" is not logged; Redis tells when every BullMQ worker waits for jobs.
  await waitFor('the worker to wait on every queue', async () => {
    if (proc.exitCode() !== undefined) throw new Error(`the worker exited (${proc.exitCode()}): ${proc.lines.slice(-10).map((l) => l.raw).join('\n')}`);
    const list = String(await admin.call('CLIENT', 'LIST', 'TYPE', 'normal'));
    return list.split('\n').filter((l) => /\bcmd=bzpopmin\b/.test(l)).length >= all.length;
  }, { timeoutMs: 30_000, intervalMs: 50 });
  return {
    tq,
    wq,
    pid: proc.proc.pid,
    async stop() {
      await proc.stop('SIGTERM', 40_000);
      for (const x of all) await x.close();
      admin.disconnect();
    },
  };
}

/** jobs/s: n jobs already waiting, timed from resume to empty (after a warm-up batch that starts the sandboxes). */
async function throughput(q: Queue, name: string, n: number): Promise<number> {
  await fill(q, CONCURRENCY * 4, name);
  await q.resume();
  await drained(q, 120_000);
  await q.pause();
  await fill(q, n, name);
  const t0 = performance.now();
  await q.resume();
  await drained(q, 600_000);
  const rate = (n * 1000) / (performance.now() - t0);
  await q.pause();
  return rate;
}

/** Short jobs' waits (ms, sorted) while the CPU queue's jobs run beside them. */
async function waitBeside(core: Core, w: { cpu: Queue; short: Queue }, iso: Iso, seconds: number, dir: string): Promise<number[]> {
  // Enough CPU jobs to outlast the window at 2 cores' worth (200 jobs/s each).
  await fill(w.cpu, Math.ceil(seconds * 400 * 1.5) + CPU_BESIDE * 4, `sb-cpu-${iso}`);
  await w.short.resume();
  await w.cpu.resume();
  // Let the CPU jobs get going (sandboxes started) before the clock runs.
  await sleep(300);
  const sendAll = async (count: number) => {
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const due = t0 + (i * 1000) / STAMP_RATE;
      const now = performance.now();
      if (due > now) await sleep(due - now);
      await core.producer.enqueue(w.short.name.slice(1, -1), { name: 'stamp', data: { sentAt: wallMs() } });
    }
  };
  await sendAll(Math.round(STAMP_RATE * seconds));
  const cpuLeft = (await w.cpu.getJobCounts('wait')).wait ?? 0;
  // The rest of the CPU jobs stay waiting in their paused queue.
  await w.cpu.pause();
  await waitFor('the running CPU jobs to finish', async () => ((await w.cpu.getJobCounts('active')).active ?? 0) === 0, { timeoutMs: 60_000, intervalMs: 10 });
  await drained(w.short, 60_000);
  const file = join(dir, `short-${iso}.json`);
  await w.short.add('flush', { file }, jobOpts());
  const waits = await waitFor('the worker to write the waits', () => {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as number[];
    } catch {
      return undefined;
    }
  }, { timeoutMs: 30_000, intervalMs: 10 });
  if (cpuLeft === 0) throw new Error(`sandbox bench: the CPU jobs (${iso}) ran out before the short jobs were all sent; raise their count`);
  return waits.sort((a, b) => a - b);
}

export async function sandbox(ctx: BenchContext): Promise<Row[]> {
  const n: Record<Kind, number> = ctx.quick ? { noop: 1000, cpu: 200 } : { noop: 5000, cpu: 1000 };
  const seconds = ctx.quick ? 1.5 : 5;
  const rates: Record<Kind, Record<Iso, number[]>> = { noop: { none: [], thread: [], process: [] }, cpu: { none: [], thread: [], process: [] } };
  const waits: Record<Iso, { p50: number[]; p99: number[] }> = { none: { p50: [], p99: [] }, thread: { p50: [], p99: [] }, process: { p50: [], p99: [] } };
  for (let run = 0; run < ctx.runs; run++) {
    const redis = await startRedis();
    const core = await openCore(testConfig(redis.url));
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-bench-sandbox-'));
    let setup: Setup | undefined;
    try {
      setup = await startWorker(redis, ctx);
      // The isolations take turns in an order that rotates from run to run.
      const order = ISOLATIONS.map((_, i) => ISOLATIONS[(i + run) % ISOLATIONS.length]!);
      for (const kind of KINDS) {
        for (const iso of order) {
          const rate = await throughput(setup.tq[kind][iso], `sb-${kind}-${iso}`, n[kind]);
          rates[kind][iso].push(rate);
          ctx.log(`sandbox run ${run + 1}: ${kind} ${iso}: ${Math.round(rate)} jobs/s`);
        }
      }
      for (const iso of order) {
        const w = await waitBeside(core, setup.wq[iso], iso, seconds, dir);
        waits[iso].p50.push(percentile(w, 50));
        waits[iso].p99.push(percentile(w, 99));
        ctx.log(`sandbox run ${run + 1}: short jobs beside 5 ms CPU jobs (${iso}): ${w.length} jobs, wait p50 ${percentile(w, 50).toFixed(2)} p99 ${percentile(w, 99).toFixed(2)} max ${percentile(w, 100).toFixed(2)} ms`);
      }
    } finally {
      await setup?.stop();
      await core.close();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const rows: Row[] = [];
  for (const kind of KINDS) {
    for (const iso of ['thread', 'process'] as const) {
      rows.push(
        makeRow({
          group: 'sandbox',
          id: `sandbox.${kind}.${iso}`,
          label: `processing ${n[kind]} ${kind === 'noop' ? 'noop' : '5 ms CPU-bound'} jobs, isolation '${iso}', 1×${CONCURRENCY}`,
          unit: 'jobs/s',
          conveyor: rates[kind][iso],
          baseline: { label: 'the same jobs in-process', samples: rates[kind].none },
        }),
      );
    }
  }
  for (const iso of ['thread', 'process'] as const) {
    for (const p of ['p50', 'p99'] as const) {
      rows.push(
        makeRow({
          group: 'sandbox',
          id: `sandbox.wait.${iso}.${p}`,
          label: `short jobs' wait ${p} (${STAMP_RATE}/s, own queue) beside 5 ms CPU-bound jobs (concurrency ${CPU_BESIDE}) run with isolation '${iso}'`,
          unit: 'ms',
          better: 'lower',
          conveyor: waits[iso][p],
          baseline: { label: 'the CPU-bound jobs in-process', samples: waits.none[p] },
        }),
      );
    }
  }
  return rows;
}
