/**
 * What each part of a Conveyor worker costs per job (issue 17: "account for
 * it"), measured by switching one part off at a time (the bench-only
 * CONVEYOR_BENCH_OFF, shared/runtime/bench-switches.ts) or on (metrics: a
 * worker serves them only with METRICS_PORT), beside the worker as shipped.
 * Each variant is its own `conveyor worker` process (compiled, 1 process,
 * concurrency 50) on its own paused queue of noop jobs; the queues are
 * resumed and drained one at a time, and for each we read the worker's CPU
 * (from /proc) and the Redis commands run meanwhile (INFO commandstats,
 * commands inside scripts included), per job. Plain BullMQ workers are
 * measured the same way: configured like Conveyor, and out of the box (its
 * defaults: 30 s locks and stalled checks, jobs added without options, so
 * completed jobs are kept forever and ids are counters).
 *
 * The drain is watched with one LLEN pair every 50 ms (a few hundred
 * commands over a run of 20,000 jobs: under 0.1 % of the figure).
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import { startRedis } from '../../shared/testing/redis-process.ts';
import { waitFor } from '../../shared/testing/wait-for.ts';
import type { BenchContext } from '../lib/context.ts';
import { spawnBaseline, startFleet, stopFleet, type BenchWorker } from '../lib/fleet.ts';
import { benchQueueName, fill, plainQueue } from '../lib/jobs.ts';
import { cpuMeter } from '../lib/machine.ts';
import { median } from '../lib/stats.ts';
import { makeRow, type Row } from '../lib/report.ts';

interface Variant {
  id: string;
  label: string;
  kind: 'conveyor' | 'bullmq-alike' | 'bullmq-defaults';
  env?: Record<string, string>;
}

const VARIANTS: Variant[] = [
  { id: 'shipped', label: 'Conveyor as shipped (no METRICS_PORT)', kind: 'conveyor' },
  { id: 'metrics-on', label: 'with metrics (METRICS_PORT set)', kind: 'conveyor', env: { METRICS_PORT: '0', METRICS_HOST: '127.0.0.1' } },
  { id: 'heartbeat-off', label: 'heartbeat off', kind: 'conveyor', env: { CONVEYOR_BENCH_OFF: 'heartbeat' } },
  { id: 'watchdog-off', label: 'watchdog off', kind: 'conveyor', env: { CONVEYOR_BENCH_OFF: 'watchdog' } },
  { id: 'deadletter-off', label: 'dead-letter sweep off', kind: 'conveyor', env: { CONVEYOR_BENCH_OFF: 'deadletter' } },
  { id: 'gate-off', label: 'flow-gate tick off', kind: 'conveyor', env: { CONVEYOR_BENCH_OFF: 'gate' } },
  { id: 'schedules-off', label: 'schedule repair off', kind: 'conveyor', env: { CONVEYOR_BENCH_OFF: 'schedules' } },
  { id: 'name-off', label: 'worker name in the job hash off', kind: 'conveyor', env: { CONVEYOR_BENCH_OFF: 'name' } },
  { id: 'all-off', label: 'every switchable part off', kind: 'conveyor', env: { CONVEYOR_BENCH_OFF: 'heartbeat,watchdog,deadletter,gate,schedules,name' } },
  { id: 'bullmq-alike', label: 'BullMQ Worker configured like Conveyor', kind: 'bullmq-alike' },
  { id: 'bullmq-defaults', label: 'BullMQ out of the box', kind: 'bullmq-defaults' },
];

interface Sample {
  rate: number;
  /** Worker CPU µs per job. */
  cpuUs: number;
  /** Redis commands per job (every client, scripts' inner commands included). */
  cmds: number;
  byCommand: Record<string, number>;
}

async function commandCalls(admin: Redis): Promise<Record<string, number>> {
  const info = String(await admin.info('commandstats'));
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

async function drainedByLength(admin: Redis, q: Queue): Promise<void> {
  const wait = `${q.opts.prefix}:${q.name}:wait`;
  const active = `${q.opts.prefix}:${q.name}:active`;
  await waitFor(`queue ${q.name} to drain`, async () => ((await admin.llen(wait)) + (await admin.llen(active)) === 0 ? true : undefined), { timeoutMs: 300_000, intervalMs: 50 });
}

async function startVariant(v: Variant, redisUrl: string, redisPort: number, queue: string, ctx: BenchContext): Promise<BenchWorker> {
  if (v.kind === 'conveyor') return (await startFleet('conveyor', 1, { redisUrl, queues: [queue], concurrency: 50, env: v.env, execArgv: ctx.childArgs }))[0]!;
  const env: Record<string, string> = { BENCH_REDIS_PORT: String(redisPort), BENCH_QUEUES: queue, BENCH_CONCURRENCY: '50', ...(v.kind === 'bullmq-defaults' ? { BENCH_DEFAULTS: '1' } : {}) };
  const { worker, ready } = spawnBaseline('bull-worker.ts', env, 'ready');
  await ready;
  return worker;
}

export async function parts(ctx: BenchContext): Promise<Row[]> {
  const n = ctx.quick ? 1000 : 20_000;
  const samples = new Map<string, Sample[]>(VARIANTS.map((v) => [v.id, []]));
  for (let run = 0; run < ctx.runs; run++) {
    const redis = await startRedis();
    const admin = redis.client();
    const workers: BenchWorker[] = [];
    const qs: Queue[] = [];
    try {
      for (const v of VARIANTS) {
        const name = benchQueueName(`parts-${v.id}`);
        const q = plainQueue(admin, name);
        await q.pause();
        qs.push(q);
        workers.push(await startVariant(v, redis.url, redis.port, name, ctx));
      }
      // Warm-up, then the measured drains, in an order that turns from run to run.
      for (const [i, q] of qs.entries()) {
        await fill(q, ctx.quick ? 200 : 2000, 'noop', () => null, VARIANTS[i]!.kind === 'bullmq-defaults');
        await q.resume();
        await drainedByLength(admin, q);
        await q.pause();
      }
      const order = VARIANTS.map((_, i) => (i + run) % VARIANTS.length);
      for (const i of order) {
        const v = VARIANTS[i]!;
        const q = qs[i]!;
        await fill(q, n, 'noop', () => null, v.kind === 'bullmq-defaults');
        const meter = cpuMeter([workers[i]!.pid]);
        const before = await commandCalls(admin);
        const t0 = performance.now();
        await q.resume();
        await drainedByLength(admin, q);
        const secs = (performance.now() - t0) / 1000;
        const cpu = meter.stop();
        const after = await commandCalls(admin);
        const byCommand: Record<string, number> = {};
        let total = 0;
        for (const [cmd, calls] of Object.entries(after)) {
          const d = calls - (before[cmd] ?? 0);
          if (d <= 0 || cmd === 'info') continue;
          byCommand[cmd] = d / n;
          total += d;
        }
        samples.get(v.id)!.push({ rate: n / secs, cpuUs: (cpu * 1e6) / n, cmds: total / n, byCommand });
      }
      ctx.log(`parts run ${run + 1}: ${VARIANTS.map((v) => `${v.id} ${Math.round(samples.get(v.id)!.at(-1)!.cpuUs)} µs ${samples.get(v.id)!.at(-1)!.cmds.toFixed(1)} cmds`).join(', ')}`);
    } finally {
      await stopFleet(workers);
      await Promise.all(qs.map((q) => q.close()));
      await redis.stop();
    }
  }

  const shipped = samples.get('shipped')!;
  const rows: Row[] = [];
  for (const v of VARIANTS) {
    if (v.id === 'shipped') continue;
    const s = samples.get(v.id)!;
    const cmdNote = (x: Sample[]) =>
      Object.entries(x.at(-1)!.byCommand)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 6)
        .map(([c, k]) => `${c} ${k.toFixed(2)}`)
        .join(', ');
    rows.push(
      makeRow({
        group: 'parts',
        id: `parts.${v.id}.cpu`,
        label: `worker CPU per job, ${v.label} (1 process, concurrency 50, noop)`,
        unit: 'µs',
        better: 'lower',
        digits: 1,
        conveyor: s.map((x) => x.cpuUs),
        baseline: { label: 'Conveyor as shipped', samples: shipped.map((x) => x.cpuUs) },
        note: `cost of the part = shipped − this: ${(median(shipped.map((x) => x.cpuUs)) - median(s.map((x) => x.cpuUs))).toFixed(1)} µs per job`,
      }),
      makeRow({
        group: 'parts',
        id: `parts.${v.id}.redis`,
        label: `Redis commands per job, ${v.label}`,
        unit: 'cmds',
        better: 'lower',
        digits: 2,
        conveyor: s.map((x) => x.cmds),
        baseline: { label: 'Conveyor as shipped', samples: shipped.map((x) => x.cmds) },
        note: `last run: ${cmdNote(s)} (shipped: ${cmdNote(shipped)})`,
      }),
    );
  }
  // Throughput beside both BullMQ baselines (issue 17: ≥ 1.0× configured alike, ≥ 1.1× out of the box at concurrency 50).
  for (const b of ['bullmq-alike', 'bullmq-defaults'] as const) {
    rows.push(
      makeRow({
        group: 'parts',
        id: `parts.throughput-vs-${b}`,
        label: `processing, 1 process, concurrency 50, Conveyor as shipped beside ${VARIANTS.find((v) => v.id === b)!.label}`,
        unit: 'jobs/s',
        conveyor: shipped.map((x) => x.rate),
        baseline: { label: VARIANTS.find((v) => v.id === b)!.label, samples: samples.get(b)!.map((x) => x.rate) },
        target: { kind: 'ratio-min', value: b === 'bullmq-alike' ? 1.0 : 1.1 },
      }),
    );
  }
  return rows;
}
