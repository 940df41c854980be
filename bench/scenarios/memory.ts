/**
 * Redis memory per job (INFO memory used_memory, delta / jobs): waiting jobs
 * with a 100-byte payload, and completed jobs kept under the default
 * retention (removeOnComplete: a day, at most 1,000 per queue — so a queue's
 * completed jobs never hold more than 1,000 × this figure). Both sides use the
 * same job options; Conveyor enqueues through its Producer (atomic bulk) and
 * runs a WorkerHost, the baseline uses addBulk and a plain BullMQ Worker.
 */
import { Redis } from 'ioredis';
import { Worker } from 'bullmq';
import { startRedis, type RedisProcess } from '../../shared/testing/redis-process.ts';
import { openCore, type Core } from '../../shared/testing/fixtures.ts';
import { loadConfig } from '../../shared/config/config.ts';
import { silentLogger } from '../../shared/log.ts';
import { WorkerHost } from '../../shared/runtime/worker-host.ts';
import { bullName, PREFIX } from '../../shared/queue/names.ts';
import { DEFAULT_KEEP_COMPLETED } from '../../shared/queue/job-input.ts';
import type { BenchContext } from '../lib/context.ts';
import { sidesFor } from '../lib/context.ts';
import type { Side } from '../lib/fleet.ts';
import { benchQueueName, drained, fill, payload100, plainQueue } from '../lib/jobs.ts';
import { makeRow, type Row } from '../lib/report.ts';

async function usedMemory(c: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await c.info('memory'))?.[1]);
}

/** Adds n jobs with 100-byte payloads the side's way. */
async function add(side: Side, core: Core, plain: Redis, queue: string, n: number): Promise<void> {
  if (side === 'conveyor') {
    for (let i = 0; i < n; i += 1000) {
      const count = Math.min(1000, n - i);
      await core.producer.enqueueBulk(queue, Array.from({ length: count }, (_, k) => ({ name: 'noop', data: payload100(i + k) })));
    }
  } else {
    const q = plainQueue(plain, queue);
    await fill(q, n, 'noop', payload100);
    await q.close();
  }
}

/** Runs every job of the queue to completion with an in-process worker of the side, then stops it. */
async function processAll(side: Side, redis: RedisProcess, admin: Redis, queue: string): Promise<void> {
  const q = plainQueue(admin, queue);
  if (side === 'conveyor') {
    const host = new WorkerHost({ config: loadConfig({ REDIS_URL: redis.url, QUEUES: queue, CONCURRENCY: '50' }), handlers: { noop: () => null }, logger: silentLogger });
    await host.start();
    await drained(q, 60_000);
    await host.stop();
  } else {
    const conn = new Redis({ host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null });
    const w = new Worker(bullName(queue), async () => null, { connection: conn, prefix: PREFIX, concurrency: 50, lockDuration: 10_000, stalledInterval: 5_000, maxStalledCount: 3 });
    await drained(q, 60_000);
    await w.close();
    conn.disconnect();
  }
  await q.close();
}

export async function memory(ctx: BenchContext): Promise<Row[]> {
  const n = ctx.quick ? 2000 : 10_000;
  const kept = DEFAULT_KEEP_COMPLETED.count;
  const waiting: Record<Side, number[]> = { conveyor: [], bullmq: [] };
  const completed: Record<Side, number[]> = { conveyor: [], bullmq: [] };
  for (let run = 0; run < ctx.runs; run++) {
    const redis = await startRedis();
    const admin = redis.client();
    const plain = new Redis({ host: '127.0.0.1', port: redis.port });
    const core = await openCore(loadConfig({ REDIS_URL: redis.url }));
    try {
      // Load BullMQ's scripts into Redis first: the script cache is not job memory.
      for (const side of ['conveyor', 'bullmq'] as const) {
        const warm = benchQueueName('mwarm');
        await add(side, core, plain, warm, 1);
        await processAll(side, redis, admin, warm);
      }
      for (const side of sidesFor<Side>(run, 'conveyor', 'bullmq')) {
        let before = await usedMemory(admin);
        await add(side, core, plain, benchQueueName('mwait'), n);
        waiting[side].push(((await usedMemory(admin)) - before) / n);

        const queue = benchQueueName('mdone');
        before = await usedMemory(admin);
        await add(side, core, plain, queue, kept);
        await processAll(side, redis, admin, queue);
        completed[side].push(((await usedMemory(admin)) - before) / kept);
        ctx.log(`memory run ${run + 1}: ${side} ${Math.round(waiting[side][run]!)} B/waiting job, ${Math.round(completed[side][run]!)} B/completed job`);
      }
    } finally {
      await core.close();
      plain.disconnect();
      await redis.stop();
    }
  }
  return [
    makeRow({ group: 'memory', id: 'memory.waiting', label: 'Redis memory per waiting job (100-byte payload)', unit: 'bytes', better: 'lower', conveyor: waiting.conveyor, baseline: { label: 'BullMQ, same options', samples: waiting.bullmq } }),
    makeRow({ group: 'memory', id: 'memory.completed', label: `Redis memory per completed job kept (default retention: ≤ ${kept} per queue, 24 h)`, unit: 'bytes', better: 'lower', conveyor: completed.conveyor, baseline: { label: 'BullMQ, same options', samples: completed.bullmq } }),
  ];
}
