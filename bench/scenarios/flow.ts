/**
 * Flow control (`--only flow`):
 *  - throughput of a queue gated by per-key concurrency (100 keys) beside the
 *    same queue without limits, one worker process at concurrency 50, noop jobs;
 *  - key B's wait (enqueue → start, p50/p99) for its 50 jobs while key A has a
 *    backlog, gated beside ungated (BullMQ's FIFO wait list: B waits behind A);
 *  - the gate's cost after 1,000 and after 100,000 keys have come and gone:
 *    the same hot-key run, and how many gate keys Redis holds.
 * Jobs are enqueued by the library in this process; workers are compiled
 * `conveyor worker` processes.
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis, type RedisProcess } from '../../shared/testing/redis-process.ts';
import { openCore, testConfig, type Core } from '../../shared/testing/fixtures.ts';
import { waitFor } from '../../shared/testing/wait-for.ts';
import type { BenchContext } from '../lib/context.ts';
import { sidesFor } from '../lib/context.ts';
import { startFleet, stopFleet } from '../lib/fleet.ts';
import { benchQueueName } from '../lib/jobs.ts';
import { makeRow, type Row } from '../lib/report.ts';
import { percentile } from '../lib/stats.ts';

const RECORDER = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'flow-handlers.ts');

async function enqueueAll(core: Core, queue: string, n: number, job: (i: number) => { name: string; data?: unknown; opts?: Record<string, unknown> }): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    await core.producer.enqueueBulk(queue, Array.from({ length: Math.min(1000, n - i) }, (_, k) => job(i + k)));
  }
}

async function untilDrained(core: Core, queue: string, timeoutMs = 300_000): Promise<void> {
  await waitFor(`${queue} drained`, async () => {
    const c = (await core.inspector.summary(queue)).counts;
    return c.waiting + c.active + c.delayed === 0;
  }, { timeoutMs, intervalMs: 20 });
}

/** jobs/s: the queue paused while it fills, then timed from resume to empty. */
async function timedDrain(core: Core, queue: string, n: number): Promise<number> {
  const t0 = performance.now();
  await core.inspector.resume(queue);
  await untilDrained(core, queue);
  return (n * 1000) / (performance.now() - t0);
}

async function throughput(redis: RedisProcess, core: Core, gated: boolean, n: number): Promise<number> {
  const queue = benchQueueName(gated ? 'flow-gated' : 'flow-plain');
  await core.queues.register(queue);
  await core.inspector.pause(queue);
  if (gated) await core.conveyor.queues.setLimits(queue, { perKey: { concurrency: 50 } });
  await enqueueAll(core, queue, n, (i) => ({ name: 'noop', opts: { key: `k${i % 100}` } }));
  const workers = await startFleet('conveyor', 1, { redisUrl: redis.url, queues: [queue], concurrency: 50 });
  try {
    return await timedDrain(core, queue, n);
  } finally {
    await stopFleet(workers);
  }
}

/** Key B's waits (ms) for its 50 jobs while key A has `backlog` waiting. */
async function bWait(redis: RedisProcess, core: Core, gated: boolean, backlog: number): Promise<number[]> {
  const queue = benchQueueName(gated ? 'flow-bwait-gated' : 'flow-bwait-plain');
  if (gated) await core.conveyor.queues.setLimits(queue, { perKey: { concurrency: 5 } });
  await enqueueAll(core, queue, backlog, () => ({ name: 'flow', opts: { key: 'a' } }));
  const workers = await startFleet('conveyor', 1, { redisUrl: redis.url, queues: [queue], concurrency: 10, env: { HANDLERS: RECORDER, FLOW_TEST_REDIS: redis.url } });
  const startsKey = `flowtest:{${queue}}:starts`;
  try {
    await waitFor('key a running', async () => (await core.conn.llen(startsKey)) >= 200, { timeoutMs: 60_000 });
    const sentAt = new Map<string, number>();
    for (let i = 0; i < 50; i++) {
      const at = Date.now();
      const { id } = await core.producer.enqueue(queue, { name: 'flow', opts: { key: 'b' } });
      sentAt.set(id, at);
    }
    const starts = await waitFor('every b job started', async () => {
      const b = (await core.conn.lrange(startsKey, 0, -1)).map((l) => l.split(' ')).filter(([key]) => key === 'b');
      return b.length === 50 ? b : undefined;
    }, { timeoutMs: 600_000, intervalMs: 50 });
    return starts.map(([, id, at]) => Number(at) - sentAt.get(id!)!).sort((x, y) => x - y);
  } finally {
    await stopFleet(workers);
  }
}

/** The same hot run (3,000 jobs over 10 keys) after `idle` keys have each run one job; and the gate keys left in Redis. */
async function afterIdleKeys(redis: RedisProcess, core: Core, admin: Redis, queue: string, idle: number): Promise<{ rate: number; gateKeys: number }> {
  await core.inspector.pause(queue);
  await enqueueAll(core, queue, idle, (i) => ({ name: 'noop', opts: { key: `idle-${idle}-${i}` } }));
  await core.inspector.resume(queue);
  await untilDrained(core, queue, 600_000);
  await core.inspector.pause(queue);
  await enqueueAll(core, queue, 3000, (i) => ({ name: 'noop', opts: { key: `hot${i % 10}` } }));
  const rate = await timedDrain(core, queue, 3000);
  let gateKeys = 0;
  let cursor = '0';
  do {
    const [next, found] = await admin.scan(cursor, 'MATCH', `conveyor:{${queue}}:flow:*`, 'COUNT', 1000);
    cursor = next;
    gateKeys += found.length;
  } while (cursor !== '0');
  return { rate, gateKeys };
}

export async function flow(ctx: BenchContext): Promise<Row[]> {
  const n = ctx.quick ? 4000 : 20_000;
  const backlog = ctx.quick ? 5000 : 20_000;
  const idleMany = ctx.quick ? 10_000 : 100_000;
  const redis = await startRedis();
  const core = await openCore(testConfig(redis.url));
  const admin = new Redis({ host: '127.0.0.1', port: redis.port });
  try {
    const gated: number[] = [];
    const plain: number[] = [];
    for (let run = 0; run < ctx.runs; run++) {
      for (const side of sidesFor(run, 'gated', 'plain')) {
        const rate = await throughput(redis, core, side === 'gated', n);
        (side === 'gated' ? gated : plain).push(rate);
        ctx.log(`flow throughput run ${run + 1} ${side}: ${Math.round(rate)} jobs/s`);
      }
    }
    const gB = await bWait(redis, core, true, backlog);
    const pB = await bWait(redis, core, false, backlog);
    ctx.log(`flow b-wait p50/p99 gated ${percentile(gB, 50)}/${percentile(gB, 99)} ms, ungated ${percentile(pB, 50)}/${percentile(pB, 99)} ms`);

    const queue = benchQueueName('flow-idle');
    await core.conveyor.queues.setLimits(queue, { perKey: { concurrency: 50 } });
    const workers = await startFleet('conveyor', 1, { redisUrl: redis.url, queues: [queue], concurrency: 50 });
    let few: { rate: number; gateKeys: number };
    let many: { rate: number; gateKeys: number };
    try {
      few = await afterIdleKeys(redis, core, admin, queue, 1000);
      many = await afterIdleKeys(redis, core, admin, queue, idleMany - 1000);
    } finally {
      await stopFleet(workers);
    }
    ctx.log(`flow idle keys: after 1,000 ${Math.round(few.rate)} jobs/s (${few.gateKeys} gate keys), after ${idleMany} ${Math.round(many.rate)} jobs/s (${many.gateKeys} gate keys)`);

    return [
      makeRow({
        group: 'flow',
        id: 'flow.throughput.gated',
        label: `processing, per-key concurrency 50 over 100 keys, 1×50, ${n} noop jobs`,
        unit: 'jobs/s',
        conveyor: gated,
        baseline: { label: 'the same queue without limits', samples: plain },
        target: { kind: 'ratio-min', value: 0.85 },
      }),
      makeRow({
        group: 'flow',
        id: 'flow.bwait.p50',
        label: `key b's wait p50 (50 jobs) behind key a's ${backlog}-job backlog, per-key concurrency 5`,
        unit: 'ms',
        better: 'lower',
        conveyor: [percentile(gB, 50)],
        baseline: { label: 'no gate (BullMQ FIFO wait list)', samples: [percentile(pB, 50)] },
      }),
      makeRow({
        group: 'flow',
        id: 'flow.bwait.p99',
        label: `key b's wait p99 (50 jobs) behind key a's ${backlog}-job backlog`,
        unit: 'ms',
        better: 'lower',
        conveyor: [percentile(gB, 99)],
        baseline: { label: 'no gate (BullMQ FIFO wait list)', samples: [percentile(pB, 99)] },
      }),
      makeRow({
        group: 'flow',
        id: 'flow.idle-keys',
        label: `gated hot run (3,000 jobs, 10 keys) after ${idleMany.toLocaleString('en-US')} keys came and went`,
        unit: 'jobs/s',
        conveyor: [many.rate],
        baseline: { label: 'after 1,000 keys', samples: [few.rate] },
        note: `gate keys in Redis afterwards: ${many.gateKeys} (after 1,000 keys: ${few.gateKeys}); idle keys leave nothing behind`,
      }),
    ];
  } finally {
    admin.disconnect();
    await core.close();
    await redis.stop();
  }
}
