/**
 * Processing throughput: N noop jobs already waiting (the queue paused while
 * it fills and the workers start), then the queue resumes and the clock runs
 * until nothing is waiting or running. Conveyor's side is the real compiled worker (conveyor worker)
 * processes; the baseline is a minimal plain BullMQ worker process with the
 * same settings. Both sides' processes run side by side on one Redis and the
 * shapes alternate between them, so other work on the host hits both alike. Worker CPU per 1,000 jobs is recorded too: that is where any
 * per-job cost of the platform would show first.
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import { startRedis, type RedisProcess } from '../../shared/testing/redis-process.ts';
import type { BenchContext } from '../lib/context.ts';
import { sidesFor } from '../lib/context.ts';
import { blockedClients, startFleet, stopFleet, waitBlocked, type BenchWorker, type Side } from '../lib/fleet.ts';
import { benchQueueName, drained, fill, plainQueue } from '../lib/jobs.ts';
import { cpuMeter } from '../lib/machine.ts';
import { makeRow, type Row } from '../lib/report.ts';

interface Shape {
  procs: number;
  concurrency: number;
}

interface Measured {
  rate: number;
  /** CPU ms of the worker processes per 1,000 jobs. */
  workerCpu: number;
}

const SHAPES: Shape[] = [
  { procs: 1, concurrency: 1 },
  { procs: 1, concurrency: 50 },
  { procs: 2, concurrency: 50 },
  { procs: 4, concurrency: 50 },
];

/** One side's worker processes for a run, and the queue of each shape. */
interface SideSetup {
  queues: string[];
  qs: Queue[];
  /** Per process: its concurrency and the queues it consumes. */
  spec: { concurrency: number; queues: string[] }[];
  workers: BenchWorker[];
}

/**
 * Starts one side's five worker processes: one at concurrency 1 for the
 * first shape, four at 50 that the other shapes share — the queue of the
 * n-process shape is consumed by the first n of them (a worker waiting on an
 * empty queue costs nothing). Every queue is paused until its measurement.
 */
async function startSide(side: Side, redis: RedisProcess, admin: Redis, ctx: BenchContext): Promise<SideSetup> {
  const queues = SHAPES.map((s) => benchQueueName(`${side}-p${s.procs}c${s.concurrency}`));
  const qs = queues.map((name) => plainQueue(admin, name));
  for (const q of qs) await q.pause();
  const fifty = SHAPES.map((s, i) => (s.concurrency === 50 ? i : -1)).filter((i) => i >= 0);
  const spec = [
    { concurrency: 1, queues: [queues[0]!] },
    ...[0, 1, 2, 3].map((k) => ({ concurrency: 50, queues: fifty.filter((i) => SHAPES[i]!.procs > k).map((i) => queues[i]!) })),
  ];
  const started = await Promise.all(
    spec.map((w) =>
      startFleet(side, 1, { redisUrl: redis.url, redisPort: redis.port, queues: w.queues, concurrency: w.concurrency, execArgv: side === 'conveyor' ? ctx.childArgs : [] }),
    ),
  );
  return { queues, qs, spec, workers: started.flat() };
}

/** Fills the shape's queue, resumes it and times the drain. */
async function measureShape(setup: SideSetup, i: number, n: number): Promise<Measured> {
  const q = setup.qs[i]!;
  await fill(q, n);
  const mine = setup.workers.filter((_, w) => setup.spec[w]!.queues.includes(setup.queues[i]!));
  const meter = cpuMeter(mine.map((w) => w.pid));
  const t0 = performance.now();
  await q.resume();
  await drained(q, 300_000);
  const secs = (performance.now() - t0) / 1000;
  return { rate: n / secs, workerCpu: (meter.stop() * 1000 * 1000) / n };
}

export async function processing(ctx: BenchContext): Promise<Row[]> {
  const n = ctx.quick ? 1000 : 20_000;
  const samples: Record<Side, Measured[][]> = { conveyor: [], bullmq: [] };
  for (let run = 0; run < ctx.runs; run++) {
    const redis = await startRedis();
    const admin = redis.client();
    const setups: Partial<Record<Side, SideSetup>> = {};
    try {
      const before = await blockedClients([admin]);
      for (const side of ['conveyor', 'bullmq'] as const) setups[side] = await startSide(side, redis, admin, ctx);
      // One blocking connection per BullMQ worker: every one of them waits for jobs.
      const workersTotal = Object.values(setups).reduce((sum, st) => sum + st.spec.reduce((x, w) => x + w.queues.length, 0), 0);
      await waitBlocked([admin], before + workersTotal);
      // Warm-up: every process runs some jobs first (JIT), then the queues pause again.
      for (const st of Object.values(setups)) {
        for (const q of st.qs) {
          await fill(q, ctx.quick ? 100 : 1000);
          await q.resume();
          await drained(q, 60_000);
          await q.pause();
        }
      }
      const got: Record<Side, Measured[]> = { conveyor: [], bullmq: [] };
      // Both sides' processes idle side by side; shapes alternate which side goes first.
      for (let i = 0; i < SHAPES.length; i++) {
        for (const side of sidesFor<Side>(run + i, 'conveyor', 'bullmq')) got[side][i] = await measureShape(setups[side]!, i, n);
      }
      for (const side of ['conveyor', 'bullmq'] as const) {
        samples[side].push(got[side]);
        const m = got[side];
        ctx.log(`processing run ${run + 1}: ${side} ${SHAPES.map((s, i) => `${s.procs}×c${s.concurrency} ${Math.round(m[i]!.rate)}/s`).join(', ')}; worker CPU ${m.slice(0, 2).map((x) => x.workerCpu.toFixed(0)).join(' / ')} ms per 1k jobs`);
      }
    } finally {
      for (const st of Object.values(setups)) {
        await stopFleet(st.workers);
        await Promise.all(st.qs.map((q) => q.close()));
      }
      await redis.stop();
    }
  }

  const rows: Row[] = SHAPES.map((shape, i) =>
    makeRow({
      group: 'processing',
      id: `processing.${shape.procs}x${shape.concurrency}`,
      label: `processing, ${shape.procs} worker process${shape.procs > 1 ? 'es' : ''}, concurrency ${shape.concurrency} (${n.toLocaleString('en-US')} noop jobs waiting)`,
      unit: 'jobs/s',
      conveyor: samples.conveyor.map((r) => r[i]!.rate),
      baseline: { label: 'BullMQ Worker', samples: samples.bullmq.map((r) => r[i]!.rate) },
      target: { kind: 'ratio-min', value: 0.95 },
    }),
  );
  SHAPES.slice(0, 2).forEach((shape, i) => {
    rows.push(
      makeRow({
        group: 'processing',
        id: `processing.cpu-${shape.procs}x${shape.concurrency}`,
        label: `worker process CPU per 1,000 jobs, concurrency ${shape.concurrency}`,
        unit: 'ms',
        better: 'lower',
        digits: 0,
        conveyor: samples.conveyor.map((r) => r[i]!.workerCpu),
        baseline: { label: 'BullMQ Worker', samples: samples.bullmq.map((r) => r[i]!.workerCpu) },
      }),
    );
  });
  return rows;
}
