/**
 * Batches and workflows (issue 16, item 5), each beside the same work done
 * without them, in the same run:
 *
 *   - throughput: N noop jobs as one batch (with an onComplete callback)
 *     beside the same N as plain jobs (atomic bulks of 1,000), drained by one
 *     compiled worker process at concurrency 50 from a paused, filled queue
 *     (target ≥ 0.8×);
 *   - callback latency: the batch's last job finishing → its onComplete job
 *     starting, 100 batches of 5 one after the other (mean, p99), beside a
 *     plain job enqueued by the bench the moment a job finished (what an app
 *     chaining the follow-up itself would wait);
 *   - a workflow of 1,000 noop steps (10 layers of 100, each step after 2 of
 *     the layer before; 1,800 dependencies), created and run to its
 *     onComplete, beside the same 1,000 jobs as one plain bulk drained.
 */
import { performance } from 'node:perf_hooks';
import { startRedis } from '../../shared/testing/redis-process.ts';
import { openCore, testConfig, uniqueQueue, type Core } from '../../shared/testing/fixtures.ts';
import { spawnConveyor, type ConveyorProcess } from '../../shared/testing/processes.ts';
import { reapOnExit } from '../../shared/testing/reaper.ts';
import { waitFor } from '../../shared/testing/wait-for.ts';
import { bullName, PREFIX } from '../../shared/queue/names.ts';
import type { BenchContext } from '../lib/context.ts';
import { sidesFor } from '../lib/context.ts';
import { percentile } from '../lib/stats.ts';
import { makeRow, type Row } from '../lib/report.ts';

const CONCURRENCY = 50;

async function startWorker(redisUrl: string, queue: string, ctx: BenchContext): Promise<ConveyorProcess> {
  const p = spawnConveyor('worker', { REDIS_URL: redisUrl, QUEUES: queue, CONCURRENCY: String(CONCURRENCY), LOG_LEVEL: 'info' }, ctx.childArgs, { compiled: true });
  reapOnExit(p.proc);
  await p.waitForLine('"worker started"', (j) => j.msg === 'worker started', 30_000);
  return p;
}

async function left(core: Core, q: string): Promise<number> {
  const k = `${PREFIX}:${bullName(q)}`;
  const [w, a, d, p] = await Promise.all([core.conn.llen(`${k}:wait`), core.conn.llen(`${k}:active`), core.conn.zcard(`${k}:delayed`), core.conn.zcard(`${k}:prioritized`)]);
  return w + a + d + p;
}

async function paused(core: Core, q: string): Promise<void> {
  await core.queues.register(q);
  await core.conveyor.queues.pause(q);
}

/** jobs/s draining n noop jobs, plain or as one batch with an onComplete callback. */
async function drain(core: Core, redisUrl: string, kind: 'plain' | 'batch', n: number, ctx: BenchContext): Promise<number> {
  const q = uniqueQueue(`bench-${kind}`);
  await paused(core, q);
  const w = await startWorker(redisUrl, q, ctx);
  try {
    let batchId: string | undefined;
    if (kind === 'plain') {
      for (let i = 0; i < n; i += 1000) await core.conveyor.enqueueBulk(q, Array.from({ length: Math.min(1000, n - i) }, () => ({ name: 'noop' })));
    } else {
      batchId = (await core.conveyor.batches.create({ jobs: Array.from({ length: n }, () => ({ queue: q, name: 'noop' })), onComplete: { queue: q, name: 'noop' } })).id;
    }
    const t0 = performance.now();
    await core.conveyor.queues.resume(q);
    await waitFor('drained', async () => (await left(core, q)) === 0 && (!batchId || (await core.conveyor.batches.get(batchId)).callbacks.onComplete?.enqueuedAt), { timeoutMs: 300_000, intervalMs: 10 });
    return n / ((performance.now() - t0) / 1000);
  } finally {
    await w.stop('SIGTERM');
  }
}

/** ms from the last job of each batch finishing to its callback starting; and from a finished job to a plain job enqueued then starting. */
async function latency(core: Core, redisUrl: string, rounds: number, ctx: BenchContext): Promise<{ callback: number[]; plain: number[] }> {
  const q = uniqueQueue('bench-lat');
  await core.queues.register(q);
  const w = await startWorker(redisUrl, q, ctx);
  const callback: number[] = [];
  const plain: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const b = await core.conveyor.batches.create({ jobs: Array.from({ length: 5 }, () => ({ queue: q, name: 'noop' })), onComplete: { queue: q, name: 'noop' } });
      const cbAt = await waitFor('its callback', async () => (await core.conveyor.getJob(q, `batch-${b.id}-complete`))?.processedAt, { timeoutMs: 60_000, intervalMs: 2 });
      const jobs = await Promise.all(b.ids.map((id) => core.conveyor.getJob(q, id)));
      callback.push(Date.parse(cbAt) - Math.max(...jobs.map((j) => Date.parse(j!.finishedAt!))));
      // The baseline: a job, and a follow-up enqueued by us as soon as we see it finished.
      const first = await core.conveyor.enqueue(q, { name: 'noop' });
      const done = await waitFor('the first job finished', async () => (await core.conveyor.getJob(q, first.id))?.finishedAt, { timeoutMs: 60_000, intervalMs: 2 });
      const next = await core.conveyor.enqueue(q, { name: 'noop' });
      const started = await waitFor('the follow-up started', async () => (await core.conveyor.getJob(q, next.id))?.processedAt, { timeoutMs: 60_000, intervalMs: 2 });
      plain.push(Date.parse(started) - Date.parse(done));
    }
  } finally {
    await w.stop('SIGTERM');
  }
  return { callback, plain };
}

/** ms to create and run a workflow of 1,000 steps; ms to drain the same 1,000 jobs as a plain bulk. */
async function workflow(core: Core, redisUrl: string, ctx: BenchContext): Promise<{ workflow: number; plain: number }> {
  const q = uniqueQueue('bench-wf');
  await core.queues.register(q);
  const w = await startWorker(redisUrl, q, ctx);
  try {
    const steps: Record<string, { queue: string; name: string; after?: string[] }> = {};
    for (let layer = 0; layer < 10; layer++) {
      for (let i = 0; i < 100; i++) steps[`s${layer}-${i}`] = { queue: q, name: 'noop', ...(layer > 0 ? { after: [`s${layer - 1}-${i}`, `s${layer - 1}-${(i * 7 + 3) % 100}`] } : {}) };
    }
    const t0 = performance.now();
    const wf = await core.conveyor.workflows.create({ steps, onComplete: { queue: q, name: 'noop' } });
    await waitFor('the workflow ran', async () => (await core.conveyor.batches.get(wf.id)).callbacks.onComplete?.enqueuedAt, { timeoutMs: 300_000, intervalMs: 10 });
    const wfMs = performance.now() - t0;
    const t1 = performance.now();
    await core.conveyor.enqueueBulk(q, Array.from({ length: 1000 }, () => ({ name: 'noop' })));
    await waitFor('the plain bulk ran', async () => ((await left(core, q)) === 0 ? true : undefined), { timeoutMs: 300_000, intervalMs: 10 });
    return { workflow: wfMs, plain: performance.now() - t1 };
  } finally {
    await w.stop('SIGTERM');
  }
}

export async function batches(ctx: BenchContext): Promise<Row[]> {
  const n = ctx.quick ? 1000 : 10_000;
  const rounds = ctx.quick ? 10 : 100;
  const rate = { plain: [] as number[], batch: [] as number[] };
  // Mean, not p50: the job hashes' timestamps are whole milliseconds, and a median of them can be 0.
  const mean = { callback: [] as number[], plain: [] as number[] };
  const p99 = { callback: [] as number[], plain: [] as number[] };
  const wf = { workflow: [] as number[], plain: [] as number[] };
  for (let run = 0; run < ctx.runs; run++) {
    const redis = await startRedis();
    const core = await openCore(testConfig(redis.url));
    try {
      for (const kind of sidesFor<'plain' | 'batch'>(run, 'plain', 'batch')) rate[kind].push(await drain(core, redis.url, kind, n, ctx));
      const l = await latency(core, redis.url, rounds, ctx);
      for (const k of ['callback', 'plain'] as const) {
        const sorted = [...l[k]].sort((a, b) => a - b);
        mean[k].push(sorted.reduce((a, b) => a + b, 0) / sorted.length);
        p99[k].push(percentile(sorted, 99));
      }
      const w = await workflow(core, redis.url, ctx);
      wf.workflow.push(w.workflow);
      wf.plain.push(w.plain);
      ctx.log(`batches run ${run + 1}: batch ${Math.round(rate.batch.at(-1)!)}/s vs plain ${Math.round(rate.plain.at(-1)!)}/s; callback mean/p99 ${mean.callback.at(-1)!.toFixed(1)}/${p99.callback.at(-1)} ms (chained plain ${mean.plain.at(-1)!.toFixed(1)}/${p99.plain.at(-1)} ms); workflow of 1,000 steps ${Math.round(w.workflow)} ms (1,000 plain ${Math.round(w.plain)} ms)`);
    } finally {
      await core.close();
      await redis.stop();
    }
  }
  return [
    makeRow({ group: 'batches', id: 'batches.throughput', label: `processing, ${n.toLocaleString('en-US')} noop jobs as one batch with a callback, 1 worker process at concurrency ${CONCURRENCY}`, unit: 'jobs/s', conveyor: rate.batch, baseline: { label: 'the same jobs enqueued plain', samples: rate.plain }, target: { kind: 'ratio-min', value: 0.8 } }),
    makeRow({ group: 'batches', id: 'batches.callback.mean', label: `the batch's last job finishing → its callback starting, mean (${rounds} batches of 5, one at a time)`, unit: 'ms', better: 'lower', conveyor: mean.callback, baseline: { label: 'a follow-up job the app enqueues itself', samples: mean.plain } }),
    makeRow({ group: 'batches', id: 'batches.callback.p99', label: `the batch's last job finishing → its callback starting, p99 (${rounds} batches of 5, one at a time)`, unit: 'ms', better: 'lower', conveyor: p99.callback, baseline: { label: 'a follow-up job the app enqueues itself', samples: p99.plain } }),
    makeRow({ group: 'batches', id: 'batches.workflow-1000', label: 'a workflow of 1,000 noop steps (10 layers, 1,800 dependencies), created and run to its callback', unit: 'ms', better: 'lower', digits: 0, conveyor: wf.workflow, baseline: { label: '1,000 plain jobs in one bulk', samples: wf.plain } }),
  ];
}
