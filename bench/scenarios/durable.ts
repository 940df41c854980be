/**
 * Durable enqueue: what ENQUEUE_MIN_REPLICAS=1 (Redis WAIT for one replica
 * after each add, on the same connection) costs against plain enqueue, on a
 * primary with one replica, both through Conveyor's Producer in the same run.
 */
import { startRedis } from '../../shared/testing/redis-process.ts';
import { openCore, testConfig, type Core } from '../../shared/testing/fixtures.ts';
import { waitFor } from '../../shared/testing/wait-for.ts';
import type { BenchContext } from '../lib/context.ts';
import { concurrently } from '../lib/http-client.ts';
import { benchQueueName, payload100 } from '../lib/jobs.ts';
import { makeRow, type Row } from '../lib/report.ts';

type Mode = 'durable' | 'plain';

/** Both modes interleaved in chunks (see enqueue.ts): host noise and warm-up hit both alike. */
async function measure(cores: Record<Mode, Core>, n: number, bulkCalls: number, run: number): Promise<Record<Mode, { single: number; bulk: number }>> {
  const modes: Mode[] = ['durable', 'plain'];
  for (const m of modes) {
    const warm = benchQueueName('dwarm');
    await concurrently(500, 1, (i) => cores[m].producer.enqueue(warm, { name: 'noop', data: payload100(i) }));
  }
  const jobs = Array.from({ length: 1000 }, (_, k) => ({ name: 'noop', data: payload100(k) }));
  const secs: Record<Mode, { single: number; bulk: number }> = { durable: { single: 0, bulk: 0 }, plain: { single: 0, bulk: 0 } };
  const q = Object.fromEntries(modes.map((m) => [m, { single: benchQueueName('dsingle'), bulk: benchQueueName('dbulk') }])) as Record<Mode, { single: string; bulk: string }>;
  const CHUNKS = 5;
  for (let c = 0; c < CHUNKS; c++) {
    for (const m of (c + run) % 2 === 0 ? modes : [...modes].reverse()) {
      const p = cores[m].producer;
      secs[m].single += await concurrently(n / CHUNKS, 1, (i) => p.enqueue(q[m].single, { name: 'noop', data: payload100(i) }));
      secs[m].bulk += await concurrently(bulkCalls / CHUNKS, 1, () => p.enqueueBulk(q[m].bulk, jobs));
    }
  }
  const rate = (t: { single: number; bulk: number }) => ({ single: n / t.single, bulk: (bulkCalls * 1000) / t.bulk });
  return { durable: rate(secs.durable), plain: rate(secs.plain) };
}

export async function durable(ctx: BenchContext): Promise<Row[]> {
  const n = ctx.quick ? 1000 : 5000;
  const bulkCalls = ctx.quick ? 5 : 10;
  const out: Record<Mode, { single: number; bulk: number }[]> = { durable: [], plain: [] };
  for (let run = 0; run < ctx.runs; run++) {
    const primary = await startRedis();
    const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    const cores: Core[] = [];
    try {
      const pc = primary.client();
      await waitFor('the replica to be in sync', async () => /connected_slaves:1[\s\S]*state=online/.test(await pc.info('replication')), { timeoutMs: 15_000 });
      const durableCore = await openCore(testConfig(primary.url, { ENQUEUE_MIN_REPLICAS: '1' }));
      cores.push(durableCore);
      const plainCore = await openCore(testConfig(primary.url, { ENQUEUE_MIN_REPLICAS: '0' }));
      cores.push(plainCore);
      const m = await measure({ durable: durableCore, plain: plainCore }, n, bulkCalls, run);
      for (const mode of ['durable', 'plain'] as const) {
        out[mode].push(m[mode]);
        ctx.log(`durable run ${run + 1}: ${mode} single ${Math.round(m[mode].single)}/s, bulk ${Math.round(m[mode].bulk)}/s`);
      }
    } finally {
      await Promise.all(cores.map((c) => c.close()));
      await replica.stop();
      await primary.stop();
    }
  }
  const base = 'Conveyor, ENQUEUE_MIN_REPLICAS=0';
  return [
    makeRow({ group: 'durable', id: 'durable.single', label: 'durable enqueue, single (ENQUEUE_MIN_REPLICAS=1, 1 replica)', unit: 'jobs/s', conveyor: out.durable.map((m) => m.single), baseline: { label: base, samples: out.plain.map((m) => m.single) } }),
    makeRow({ group: 'durable', id: 'durable.bulk', label: 'durable enqueue, bulk of 1,000 (ENQUEUE_MIN_REPLICAS=1, 1 replica)', unit: 'jobs/s', conveyor: out.durable.map((m) => m.bulk), baseline: { label: base, samples: out.plain.map((m) => m.bulk) } }),
  ];
}
