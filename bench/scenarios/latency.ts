/**
 * Enqueue-to-start latency at a steady rate with an idle worker: the producer
 * stamps each job with the wall clock just before enqueueing it; the worker's
 * handler (bench/handlers/latency.ts, the same code on both sides) records
 * how long ago that was when it starts the job. Conveyor: Producer.enqueue
 * and a real worker process (HANDLERS=that module); baseline: queue.add and
 * the plain BullMQ worker process. Both at concurrency 10 (Conveyor's default).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startRedis, type RedisProcess } from '../../shared/testing/redis-process.ts';
import { openCore, testConfig } from '../../shared/testing/fixtures.ts';
import { waitFor } from '../../shared/testing/wait-for.ts';
import type { BenchContext } from '../lib/context.ts';
import { sidesFor } from '../lib/context.ts';
import { blockedClients, startFleet, stopFleet, waitBlocked, type Side } from '../lib/fleet.ts';
import { benchQueueName, drained, jobOpts, plainQueue } from '../lib/jobs.ts';
import { makeRow, type Row } from '../lib/report.ts';
import { percentile } from '../lib/stats.ts';
import { wallMs } from '../handlers/latency.ts';

const HANDLERS = join(import.meta.dirname, '..', 'handlers', 'latency.ts');
const CONCURRENCY = 10;
const PCTS = [50, 95, 99, 100] as const;

type Percentiles = Record<(typeof PCTS)[number], number>;

/** Calls send() `rate` times a second for `seconds`, without waiting for one call before the next is due. */
async function steady(rate: number, seconds: number, send: () => Promise<unknown>): Promise<void> {
  const total = Math.round(rate * seconds);
  const pending = new Set<Promise<unknown>>();
  let failure: unknown;
  let sent = 0;
  const t0 = performance.now();
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
    while (sent < due) {
      sent++;
      const p = send().catch((err: unknown) => (failure ??= err));
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
    await sleep(1);
  }
  await Promise.all(pending);
  if (failure) throw failure;
}

/** One side for a run: its worker process, its producer, and how to collect what the worker recorded. */
interface LatencySide {
  send(): Promise<unknown>;
  collect(): Promise<number[]>;
  close(): Promise<void>;
}

async function startSide(side: Side, redis: RedisProcess, admin: Redis, ctx: BenchContext): Promise<LatencySide> {
  const queue = benchQueueName(`latency-${side}`);
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-bench-'));
  const q = plainQueue(admin, queue);
  const before = await blockedClients([admin]);
  const workers = await startFleet(side, 1, {
    redisUrl: redis.url,
    redisPort: redis.port,
    queues: [queue],
    concurrency: CONCURRENCY,
    env: side === 'conveyor' ? { HANDLERS } : {},
    execArgv: side === 'conveyor' ? ctx.childArgs : [],
  });
  const core = side === 'conveyor' ? await openCore(testConfig(redis.url)) : undefined;
  const conn = side === 'bullmq' ? new Redis({ host: '127.0.0.1', port: redis.port }) : undefined;
  const pq = conn ? plainQueue(conn, queue) : undefined;
  await waitBlocked([admin], before + 1);
  let flushes = 0;
  return {
    send: core
      ? () => core.producer.enqueue(queue, { name: 'stamp', data: { sentAt: wallMs() } })
      : () => pq!.add('stamp', { sentAt: wallMs() }, jobOpts()),
    async collect() {
      await drained(q, 60_000);
      const file = join(dir, `flush-${flushes++}.json`);
      await q.add('flush', { file }, jobOpts());
      return waitFor('the worker to write its latencies', () => {
        try {
          return JSON.parse(readFileSync(file, 'utf8')) as number[];
        } catch {
          return undefined;
        }
      }, { timeoutMs: 30_000, intervalMs: 10 });
    },
    async close() {
      await stopFleet(workers);
      await core?.close();
      await pq?.close();
      conn?.disconnect();
      await q.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function latency(ctx: BenchContext): Promise<Row[]> {
  const rates = [200, 2000];
  const seconds = (rate: number) => (ctx.quick ? (rate >= 1000 ? 1 : 1.5) : rate >= 1000 ? 5 : 15);
  const samples: Record<Side, Percentiles[][]> = { conveyor: [], bullmq: [] };
  for (let run = 0; run < ctx.runs; run++) {
    const redis = await startRedis();
    const admin = redis.client();
    const sides: Partial<Record<Side, LatencySide>> = {};
    try {
      for (const side of ['conveyor', 'bullmq'] as const) sides[side] = await startSide(side, redis, admin, ctx);
      const got: Record<Side, Percentiles[]> = { conveyor: [], bullmq: [] };
      // Both workers idle side by side; the sides take turns, in an order that alternates.
      for (let ri = 0; ri < rates.length; ri++) {
        const rate = rates[ri]!;
        for (const side of sidesFor<Side>(run + ri, 'conveyor', 'bullmq')) {
          const s = sides[side]!;
          await steady(rate, ctx.quick ? 0.3 : 1, s.send); // warm-up, discarded
          await s.collect();
          await steady(rate, seconds(rate), s.send);
          const lat = (await s.collect()).sort((a, b) => a - b);
          const p = Object.fromEntries(PCTS.map((x) => [x, percentile(lat, x)])) as Percentiles;
          got[side][ri] = p;
          ctx.log(`latency run ${run + 1}: ${side} at ${rate}/s: ${lat.length} jobs, p50 ${p[50].toFixed(2)} p95 ${p[95].toFixed(2)} p99 ${p[99].toFixed(2)} max ${p[100].toFixed(2)} ms`);
        }
      }
      samples.conveyor.push(got.conveyor);
      samples.bullmq.push(got.bullmq);
    } finally {
      for (const s of Object.values(sides)) await s.close();
      await redis.stop();
    }
  }
  const rows: Row[] = [];
  rates.forEach((rate, ri) => {
    for (const p of PCTS) {
      const name = p === 100 ? 'max' : `p${p}`;
      rows.push(
        makeRow({
          group: 'latency',
          id: `latency.${rate}.${name}`,
          label: `enqueue-to-start ${name} at ${rate} jobs/s (idle worker, concurrency ${CONCURRENCY})`,
          unit: 'ms',
          better: 'lower',
          conveyor: samples.conveyor.map((r) => r[ri]![p]),
          baseline: { label: 'queue.add + BullMQ Worker', samples: samples.bullmq.map((r) => r[ri]![p]) },
          ...(rate === 200 && p === 99 ? { target: { kind: 'max' as const, value: 5 } } : {}),
        }),
      );
    }
  });
  return rows;
}
