/**
 * Durable enqueue: what ENQUEUE_MIN_REPLICAS=1 (Redis WAIT for one replica
 * after each add, on the same connection) costs against plain enqueue, on a
 * primary with one replica, both through Conveyor's Producer in the same run.
 */
import { startRedis } from '#shared/testing/redis-process.ts';
import { openCore, testConfig, type Core } from '#shared/testing/fixtures.ts';
import { waitFor } from '#shared/testing/wait-for.ts';
import type { BenchContext } from '../lib/context.ts';
import { sidesFor } from '../lib/context.ts';
import { concurrently } from '../lib/http-client.ts';
import { benchQueueName, payload100 } from '../lib/jobs.ts';
import { makeRow, type Row } from '../lib/report.ts';

type Mode = 'durable' | 'plain';

async function measure(core: Core, n: number, bulkCalls: number): Promise<{ single: number; bulk: number }> {
  const warm = benchQueueName('dwarm');
  await concurrently(200, 1, (i) => core.producer.enqueue(warm, { name: 'noop', data: payload100(i) }));
  const qs = benchQueueName('dsingle');
  const single = n / (await concurrently(n, 1, (i) => core.producer.enqueue(qs, { name: 'noop', data: payload100(i) })));
  const qb = benchQueueName('dbulk');
  const jobs = Array.from({ length: 1000 }, (_, k) => ({ name: 'noop', data: payload100(k) }));
  const bulk = (bulkCalls * 1000) / (await concurrently(bulkCalls, 1, () => core.producer.enqueueBulk(qb, jobs)));
  return { single, bulk };
}

export async function durable(ctx: BenchContext): Promise<Row[]> {
  const n = ctx.quick ? 1000 : 5000;
  const bulkCalls = ctx.quick ? 3 : 10;
  const out: Record<Mode, { single: number; bulk: number }[]> = { durable: [], plain: [] };
  for (let run = 0; run < ctx.runs; run++) {
    const primary = await startRedis();
    const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    const cores: Core[] = [];
    try {
      const pc = primary.client();
      await waitFor('the replica to be in sync', async () => /connected_slaves:1[\s\S]*state=online/.test(await pc.info('replication')), { timeoutMs: 15_000 });
      for (const mode of sidesFor<Mode>(run, 'durable', 'plain')) {
        const core = await openCore(testConfig(primary.url, { ENQUEUE_MIN_REPLICAS: mode === 'durable' ? '1' : '0' }));
        cores.push(core);
        const m = await measure(core, n, bulkCalls);
        out[mode].push(m);
        ctx.log(`durable run ${run + 1}: ${mode} single ${Math.round(m.single)}/s, bulk ${Math.round(m.bulk)}/s`);
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
