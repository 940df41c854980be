/**
 * Batches, measured (issue 16, item 5; a first cut beside bench/, whose
 * runner belongs to the benchmark suite): `npx tsx scripts/bench-batches.ts`.
 *
 * 1. Throughput: 10,000 noop jobs as one batch (with an onComplete callback)
 *    beside the same 10,000 as plain jobs (atomic bulks of 1,000), drained by
 *    one worker process (concurrency 50) from a paused, filled queue; jobs/s
 *    and the worker's CPU ms per 1,000 jobs, alternating, median of RUNS.
 * 2. Callback latency: from the batch's last job's finishedOn to its
 *    onComplete job's processedOn, for 100 batches of 5 jobs, one after the
 *    other (idle) and all at once (loaded); p50 / p99 / max.
 * 3. A workflow of 1,000 noop steps (10 layers of 100, each step after 2 of the
 *    layer before): the time to create it and to run it to its onComplete.
 */
import { startRedis } from '../shared/testing/redis-process.ts';
import { openCore, testConfig, uniqueQueue } from '../shared/testing/fixtures.ts';
import { spawnConveyor } from '../shared/testing/processes.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { cpuSeconds } from '../bench/lib/machine.ts';
import { bullName, PREFIX } from '../shared/queue/names.ts';

const N = Number(process.env.BENCH_BATCH_JOBS ?? 10_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONCURRENCY = 50;

const redis = await startRedis();
const core = await openCore(testConfig(redis.url));
const conveyor = core.conveyor;
const conn = core.conn;

async function worker(queue: string) {
  const p = spawnConveyor('worker', { REDIS_URL: redis.url, QUEUES: queue, CONCURRENCY: String(CONCURRENCY), LOG_LEVEL: 'warn', METRICS_PORT: '0' });
  await waitFor('worker blocked on its queue', async () => ((await conn.client('LIST')) as string).split('\n').some((l) => l.includes('cmd=bzpopmin')), { timeoutMs: 30_000 });
  return p;
}

const left = async (q: string) => {
  const k = `${PREFIX}:${bullName(q)}`;
  const [w, a, d, p] = await Promise.all([conn.llen(`${k}:wait`), conn.llen(`${k}:active`), conn.zcard(`${k}:delayed`), conn.zcard(`${k}:prioritized`)]);
  return w + a + d + p;
};

async function drain(kind: 'plain' | 'batch'): Promise<{ rate: number; cpuPer1000: number; redisPer1000: number }> {
  const q = uniqueQueue(`bench-${kind}`);
  await conveyor.queues.pause(q).catch(async () => {
    await core.queues.register(q);
    await conveyor.queues.pause(q);
  });
  const w = await worker(q);
  let batchId: string | undefined;
  if (kind === 'plain') {
    for (let i = 0; i < N; i += 1000) await conveyor.enqueueBulk(q, Array.from({ length: Math.min(1000, N - i) }, () => ({ name: 'noop' })));
  } else {
    batchId = (await conveyor.batches.create({ jobs: Array.from({ length: N }, () => ({ queue: q, name: 'noop' })), onComplete: { queue: q, name: 'noop' } })).id;
  }
  const cpu0 = cpuSeconds(w.proc.pid);
  const r0 = cpuSeconds(redis.proc.pid);
  const t0 = performance.now();
  await conveyor.queues.resume(q);
  await waitFor('drained', async () => (await left(q)) === 0 && (!batchId || (await conveyor.batches.get(batchId)).callbacks.onComplete?.enqueuedAt), { timeoutMs: 300_000, intervalMs: 10 });
  const s = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(w.proc.pid) - cpu0;
  const rcpu = cpuSeconds(redis.proc.pid) - r0;
  await w.stop('SIGTERM');
  return { rate: N / s, cpuPer1000: (cpu * 1000 * 1000) / N, redisPer1000: (rcpu * 1000 * 1000) / N };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

async function latency(mode: 'idle' | 'loaded'): Promise<number[]> {
  const q = uniqueQueue(`bench-lat-${mode}`);
  await core.queues.register(q);
  const w = await worker(q);
  const spec = () => ({ jobs: Array.from({ length: 5 }, () => ({ queue: q, name: 'noop' })), onComplete: { queue: q, name: 'noop' } });
  const batches: { id: string; ids: string[] }[] = [];
  if (mode === 'idle') {
    for (let i = 0; i < 100; i++) {
      const b = await conveyor.batches.create(spec());
      batches.push(b);
      await waitFor('its callback', async () => (await conveyor.getJob(q, `batch-${b.id}-complete`))?.processedAt, { intervalMs: 5 });
    }
  } else {
    batches.push(...(await Promise.all(Array.from({ length: 100 }, () => conveyor.batches.create(spec())))));
  }
  const out: number[] = [];
  for (const b of batches) {
    const cb = await waitFor('its callback', async () => (await conveyor.getJob(q, `batch-${b.id}-complete`))?.processedAt, { timeoutMs: 60_000 });
    const jobs = await Promise.all(b.ids.map((id) => conveyor.getJob(q, id)));
    const last = Math.max(...jobs.map((j) => Date.parse(j!.finishedAt!)));
    out.push(Date.parse(cb) - last);
  }
  await w.stop('SIGTERM');
  return out;
}

try {
  type Run = { rate: number; cpuPer1000: number; redisPer1000: number };
  const plain: Run[] = [];
  const batch: Run[] = [];
  for (let r = 0; r < RUNS; r++) {
    plain.push(await drain('plain'));
    batch.push(await drain('batch'));
  }
  const pr = median(plain.map((x) => x.rate));
  const br = median(batch.map((x) => x.rate));
  console.log(`throughput, ${N} noop jobs, 1 worker at concurrency ${CONCURRENCY}, median of ${RUNS}:`);
  console.log(`  plain  ${pr.toFixed(0)} jobs/s, worker CPU ${median(plain.map((x) => x.cpuPer1000)).toFixed(0)} ms, Redis CPU ${median(plain.map((x) => x.redisPer1000)).toFixed(0)} ms / 1000 jobs   (runs ${plain.map((x) => x.rate.toFixed(0)).join(', ')})`);
  console.log(`  batch  ${br.toFixed(0)} jobs/s, worker CPU ${median(batch.map((x) => x.cpuPer1000)).toFixed(0)} ms, Redis CPU ${median(batch.map((x) => x.redisPer1000)).toFixed(0)} ms / 1000 jobs   (runs ${batch.map((x) => x.rate.toFixed(0)).join(', ')})`);
  console.log(`  batch / plain = ${(br / pr).toFixed(2)}x`);
  for (const mode of process.env.BENCH_NO_LATENCY ? [] : (['idle', 'loaded'] as const)) {
    const l = await latency(mode);
    console.log(`callback latency (last job finished → onComplete started), 100 batches of 5, ${mode}: p50 ${pct(l, 50)} ms, p99 ${pct(l, 99)} ms, max ${Math.max(...l)} ms`);
  }
  if (!process.env.BENCH_NO_WORKFLOW) {
    const q = uniqueQueue('bench-wf');
    await core.queues.register(q);
    const w = await worker(q);
    const steps: Record<string, { queue: string; name: string; after?: string[] }> = {};
    for (let layer = 0; layer < 10; layer++) {
      for (let i = 0; i < 100; i++) {
        steps[`s${layer}-${i}`] = { queue: q, name: 'noop', ...(layer > 0 ? { after: [`s${layer - 1}-${i}`, `s${layer - 1}-${(i * 7 + 3) % 100}`] } : {}) };
      }
    }
    const t0 = performance.now();
    const wf = await conveyor.workflows.create({ steps, onComplete: { queue: q, name: 'noop' } });
    const created = performance.now() - t0;
    await waitFor('the workflow ran', async () => (await conveyor.batches.get(wf.id)).callbacks.onComplete?.enqueuedAt, { timeoutMs: 300_000, intervalMs: 20 });
    const ran = performance.now() - t0 - created;
    const v = await conveyor.batches.get(wf.id);
    console.log(`workflow of 1000 steps (10 layers, 1,800 dependencies): created in ${created.toFixed(0)} ms, ran in ${ran.toFixed(0)} ms (${v.succeeded} succeeded, ${v.dead} dead)`);
    await w.stop('SIGTERM');
  }
} finally {
  await core.close();
  await redis.stop();
}
