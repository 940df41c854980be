/**
 * Batches against a real redis-server (started here) with in-process
 * workers: counts and progress, the three callbacks (success, complete with
 * dead jobs, death) each fired exactly once with the batch's counts and dead
 * jobs, a replayed dead job that succeeds firing onSuccess later, open
 * batches (add, seal, BATCH_SEALED), nested batches, exactly once when two
 * workers finish the last jobs at the same moment and when many settles race,
 * the sweep firing a callback whose settle never ran (a worker killed between
 * BullMQ's completion and the settle), and bad input changing nothing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { Worker } from 'bullmq';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { closeRedisAndCore, redisAndCore, testConfig, uniqueQueue, type Core } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { createWorker, type ConveyorWorker } from '../worker/index.ts';
import { coreOf, openConveyor, type Conveyor } from '../shared/conveyor.ts';
import { defineJob } from '../shared/jobs/define-job.ts';
import { isConveyorError } from '../shared/errors.ts';
import { silentLogger } from '../shared/log.ts';
import { bullName, keys, PREFIX } from '../shared/queue/names.ts';
import { BATCH_KEEP_MS, BatchStore } from '../shared/batches/store.ts';
import { batchKeys, callbackJobId, trackerKey } from '../shared/batches/keys.ts';
import { batchIdOf } from '../shared/batches/context.ts';
import { checkJobs } from '../shared/batches/input.ts';
import type { BatchCallbackData } from '../shared/batches/types.ts';
import type { JobContext } from '../shared/runtime/handler.ts';

let redis: RedisProcess;
let core: Core;
let conveyor: Conveyor;
const workers: ConveyorWorker[] = [];

before(async () => {
  ({ redis, core } = await redisAndCore());
  conveyor = core.conveyor;
});
after(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await closeRedisAndCore(redis, core);
});

/** Callback runs seen by the handlers, by callback job id. */
const runs = new Map<string, BatchCallbackData[]>();
const callbackRuns = (batch: string, kind: 'success' | 'complete' | 'death') => runs.get(callbackJobId(batch, kind)) ?? [];
const record = (data: BatchCallbackData, ctx: JobContext) => {
  const list = runs.get(ctx.id) ?? [];
  list.push(data);
  runs.set(ctx.id, list);
  return { seen: data.event };
};

/** Jobs that fail until "fixed" (by their data's key). */
const fixed = new Set<string>();

async function startWorker(queue: string, handlers: Record<string, (data: any, ctx: JobContext) => unknown> = {}, concurrency = 10, on: Conveyor = conveyor): Promise<ConveyorWorker> {
  const w = createWorker({
    conveyor: on,
    queues: [queue],
    concurrency,
    metrics: false,
    handlers: {
      work: async (d: { i: number; failUntilFixed?: string; ms?: number }) => {
        if (d?.ms) await new Promise((r) => setTimeout(r, d.ms));
        if (d?.failUntilFixed && !fixed.has(d.failUntilFixed)) throw new Error(`boom ${d.i}`);
        return { i: d?.i };
      },
      done: record,
      ...handlers,
    },
  });
  workers.push(w);
  await w.start();
  return w;
}

async function stopWorker(w: ConveyorWorker): Promise<void> {
  await w.stop();
  workers.splice(workers.indexOf(w), 1);
}

const jobsOn = (queue: string, n: number, data: (i: number) => Record<string, unknown> = (i) => ({ i }), opts: Record<string, unknown> = {}) =>
  Array.from({ length: n }, (_, i) => ({ queue, name: 'work', data: data(i), opts: { attempts: 1, ...opts } }));

/** Callback jobs added to a queue, counted from BullMQ's event stream ("waiting" once per add that created a job). */
async function addsOf(queue: string, jobId: string): Promise<number> {
  const events = await core.conn.xrange(`${PREFIX}:${bullName(queue)}:events`, '-', '+');
  return events.filter(([, f]) => f[1] === 'waiting' && f[3] === jobId).length;
}

/** Waits until the batch has nothing left to do: finished, every fired callback enqueued and run. */
async function settled(id: string, kinds: ('success' | 'complete' | 'death')[]): Promise<void> {
  await waitFor(`batch ${id} settled with ${kinds.join(', ')}`, async () => {
    const b = await conveyor.batches.get(id);
    if (b.state !== 'succeeded' && b.state !== 'completed') return false;
    return kinds.every((k) => callbackRuns(id, k).length > 0);
  }, { timeoutMs: 15_000 });
}

test('a batch of 50 jobs: counts add up while it runs, onSuccess and onComplete fire once each with the counts', async () => {
  const q = uniqueQueue('batch-ok');
  const b = await conveyor.batches.create({
    jobs: jobsOn(q, 50, (i) => ({ i, ms: i % 5 })),
    onSuccess: { queue: q, name: 'done' },
    onComplete: { queue: q, name: 'done' },
    onDeath: { queue: q, name: 'done' },
    description: 'fifty',
  });
  assert.equal(b.total, 50);
  assert.equal(b.ids.length, 50);
  assert.equal(new Set(b.ids).size, 50);
  const before = await conveyor.batches.get(b.id);
  assert.deepEqual([before.state, before.total, before.pending, before.succeeded, before.dead, before.progress], ['running', 50, 50, 0, 0, 0]);
  // Each job is an ordinary job of its queue, and knows its batch.
  const first = await conveyor.getJob(q, b.ids[0]!);
  assert.equal(first?.state, 'waiting');

  await startWorker(q);
  await waitFor('half done', async () => {
    const v = await conveyor.batches.get(b.id);
    assert.equal(v.pending + v.failed + v.succeeded + v.dead, v.total, 'counts add up');
    return v.succeeded >= 25;
  });
  await settled(b.id, ['success', 'complete']);
  const v = await conveyor.batches.get(b.id);
  assert.deepEqual([v.state, v.total, v.pending, v.failed, v.succeeded, v.dead, v.progress], ['succeeded', 50, 0, 0, 50, 0, 1]);
  assert.ok(v.completedAt && v.succeededAt && v.callbacks.onSuccess?.firedAt && v.callbacks.onSuccess.enqueuedAt);
  assert.equal(v.callbacks.onDeath?.firedAt, null);
  const [success] = callbackRuns(b.id, 'success');
  assert.deepEqual(success, { batchId: b.id, event: 'success', description: 'fifty', counts: { total: 50, pending: 0, failed: 0, succeeded: 50, dead: 0 }, failed: [] });
  assert.equal(callbackRuns(b.id, 'complete')[0]?.event, 'complete');
  assert.equal(callbackRuns(b.id, 'success').length, 1);
  assert.equal(callbackRuns(b.id, 'complete').length, 1);
  assert.equal(callbackRuns(b.id, 'death').length, 0);
  // The ledger is BullMQ's: the tracker's children values are the jobs' results.
  const store = new BatchStore(core.queues);
  const tracker = await store.tracker(q).getJob(b.id);
  const values = await tracker!.getChildrenValues();
  assert.equal(Object.keys(values).length, 50);
  await store.close();
});

test('a dead job: onDeath and onComplete fire with its id and error; replaying it (now fixed) succeeds and fires onSuccess later', async () => {
  const q = uniqueQueue('batch-dead');
  await startWorker(q);
  const key = `fix-${q}`;
  const b = await conveyor.batches.create({
    jobs: jobsOn(q, 6, (i) => (i === 2 ? { i, failUntilFixed: key } : { i })),
    onSuccess: { queue: q, name: 'done' },
    onComplete: { queue: q, name: 'done' },
    onDeath: { queue: q, name: 'done' },
  });
  await settled(b.id, ['complete', 'death']);
  const v = await conveyor.batches.get(b.id);
  assert.deepEqual([v.state, v.succeeded, v.dead, v.pending, v.progress], ['completed', 5, 1, 0, 1]);
  assert.deepEqual(v.failedJobs, [{ id: b.ids[2], queue: q, error: 'boom 2' }]);
  const [complete] = callbackRuns(b.id, 'complete');
  assert.deepEqual(complete?.counts, { total: 6, pending: 0, failed: 0, succeeded: 5, dead: 1 });
  assert.deepEqual(complete?.failed, [{ id: b.ids[2], queue: q, error: 'boom 2' }]);
  assert.equal(callbackRuns(b.id, 'death')[0]?.failed[0]?.id, b.ids[2]);
  assert.equal(callbackRuns(b.id, 'success').length, 0);
  assert.equal(v.callbacks.onSuccess?.firedAt, null);

  // The dead letter keeps its batch: replayed, the job counts as pending again, then succeeded.
  await waitFor('the dead letter', () => conveyor.deadLetters.get(q, b.ids[2]!));
  fixed.add(key);
  await conveyor.deadLetters.replay(q, b.ids[2]!);
  await waitFor('onSuccess after the replay', () => callbackRuns(b.id, 'success').length === 1, { timeoutMs: 15_000 });
  const after = await conveyor.batches.get(b.id);
  assert.deepEqual([after.state, after.succeeded, after.dead, after.failedJobs.length], ['succeeded', 6, 0, 0]);
  assert.deepEqual(callbackRuns(b.id, 'success')[0]?.counts, { total: 6, pending: 0, failed: 0, succeeded: 6, dead: 0 });
  // Each fired once; onComplete and onDeath do not fire again.
  assert.equal(callbackRuns(b.id, 'complete').length, 1);
  assert.equal(callbackRuns(b.id, 'death').length, 1);
});

test('a job waiting for its retry counts as failed (not pending), and the counts add up', async () => {
  const q = uniqueQueue('batch-retry');
  const key = `retry-${q}`;
  const b = await conveyor.batches.create({ jobs: jobsOn(q, 3, (i) => (i === 0 ? { i, failUntilFixed: key } : { i }), { attempts: 5, backoff: { type: 'fixed', delay: 60_000 } }) });
  await startWorker(q);
  const v = await waitFor('one retrying, two succeeded', async () => {
    const x = await conveyor.batches.get(b.id);
    return x.failed === 1 && x.succeeded === 2 ? x : undefined;
  });
  assert.deepEqual([v.state, v.pending, v.failed, v.succeeded, v.dead, v.total], ['running', 0, 1, 2, 0, 3]);
});

test('an open batch: jobs added until it is sealed, callbacks wait for the seal; an add after the seal is BATCH_SEALED and adds nothing', async () => {
  const q = uniqueQueue('batch-open');
  await startWorker(q);
  const b = await conveyor.batches.create({ jobs: jobsOn(q, 2), open: true, onSuccess: { queue: q, name: 'done' } });
  assert.equal(b.sealed, false);
  await waitFor('the first two done', async () => (await conveyor.batches.get(b.id)).succeeded === 2);
  const open = await conveyor.batches.get(b.id);
  assert.equal(open.state, 'open');
  assert.equal(open.callbacks.onSuccess?.firedAt, null, 'no callback before the seal');
  const added = await conveyor.batches.add(b.id, jobsOn(q, 3));
  assert.equal(added.total, 5);
  assert.equal(added.ids.length, 3);
  const sealed = await conveyor.batches.seal(b.id);
  assert.equal(sealed.sealed, true);
  await settled(b.id, ['success']);
  assert.equal(callbackRuns(b.id, 'success')[0]?.counts.succeeded, 5);
  await waitFor('the callback finished', async () => (await conveyor.getJob(q, callbackJobId(b.id, 'success')))?.state === 'completed');
  const jobsIn = async () => Object.values(await core.queues.source(q).getJobCounts()).reduce((a, n) => a + n, 0);
  const jobsBefore = await jobsIn();
  await assert.rejects(conveyor.batches.add(b.id, jobsOn(q, 2)), (e) => isConveyorError(e, 'BATCH_SEALED') && e.status === 409);
  assert.equal(await jobsIn(), jobsBefore, 'nothing added');
  // The guard inside the add's own transaction (a seal landing between add()'s check and its MULTI),
  // also for jobs on a queue new to the batch (its tracker, made for the add, is removed again).
  const store = coreOf(conveyor).batches.store;
  const q2 = uniqueQueue('batch-open-2');
  for (const on of [q, q2]) {
    await assert.rejects(store.add(b.id, q, [q], await checkJobs(jobsOn(on, 2), { maxPayloadBytes: 1 << 20 })), (e) => isConveyorError(e, 'BATCH_SEALED'));
  }
  assert.equal(await jobsIn(), jobsBefore, 'nothing added');
  assert.equal(await core.conn.exists(trackerKey(q2, b.id)), 0, 'no tracker left on the new queue');
  assert.equal(Object.values(await core.queues.source(q2).getJobCounts()).reduce((a, n) => a + n, 0), 0, 'no job on the new queue');
  assert.equal(await core.conn.sismember(keys.queueRegistry, q2), 0, 'the new queue was not registered');
  assert.equal((await conveyor.batches.get(b.id)).total, 5);
  // Sealing again changes nothing.
  assert.equal((await conveyor.batches.seal(b.id)).total, 5);
  assert.equal(callbackRuns(b.id, 'success').length, 1);
});

test('an add racing a seal: all of its jobs are in the batch, or none', async () => {
  const q = uniqueQueue('batch-race');
  let inBatches = 0;
  for (let round = 0; round < 5; round++) {
    const b = await conveyor.batches.create({ jobs: jobsOn(q, 1), open: true });
    const [add] = await Promise.allSettled([conveyor.batches.add(b.id, jobsOn(q, 50)), conveyor.batches.seal(b.id)]);
    const v = await conveyor.batches.get(b.id);
    if (add.status === 'fulfilled') assert.equal(v.total, 51);
    else {
      assert.ok(isConveyorError(add.reason, 'BATCH_SEALED'), String(add.reason));
      assert.equal(v.total, 1);
    }
    inBatches += v.total;
    assert.equal((await core.queues.source(q).getJobCounts('wait')).wait, inBatches, 'every job in the queue is counted by its batch, and no other');
  }
});

test('nested batches: the outer batch completes only when the batch a job of it created completes', async () => {
  const q = uniqueQueue('batch-nest');
  let release: () => void = () => {};
  const slow = new Promise<void>((r) => (release = r));
  let inner: string | undefined;
  await startWorker(q, {
    spawn: async (_d: unknown, ctx: JobContext) => {
      const c = await conveyor.batches.create({ parent: batchIdOf(ctx)!, jobs: [{ queue: q, name: 'hold' }, ...jobsOn(q, 2)], onSuccess: { queue: q, name: 'done' } });
      inner = c.id;
      return c.id;
    },
    hold: () => slow,
  });
  const outer = await conveyor.batches.create({ jobs: [{ queue: q, name: 'spawn' }], onSuccess: { queue: q, name: 'done' } });
  await waitFor('the inner batch running', async () => inner !== undefined && (await conveyor.batches.get(inner)).succeeded === 2);
  const o = await conveyor.batches.get(outer.id);
  assert.deepEqual([o.state, o.succeeded, o.children], ['running', 1, { total: 1, pending: 1, completed: 0, succeeded: 0 }]);
  assert.equal(callbackRuns(outer.id, 'success').length, 0);
  assert.equal((await conveyor.batches.get(inner!)).parent, outer.id);
  release();
  await settled(outer.id, ['success']);
  const i = await conveyor.batches.get(inner!);
  assert.equal(i.state, 'succeeded');
  assert.equal(callbackRuns(inner!, 'success').length, 1);
  const done = await conveyor.batches.get(outer.id);
  assert.deepEqual(done.children, { total: 1, pending: 0, completed: 0, succeeded: 1 });
  assert.ok(Date.parse(done.succeededAt!) >= Date.parse(i.succeededAt!));
});

test('exactly once: two workers finish the last jobs at the same moment, and 20 more settles race after', async () => {
  const q = uniqueQueue('batch-once');
  // The last two jobs wait for each other, each in its own worker, then return together.
  let arrived = 0;
  let go: () => void = () => {};
  const together = new Promise<void>((r) => (go = r));
  const meet = async () => {
    if (++arrived === 2) go();
    await together;
    return 'met';
  };
  const other = await openConveyor(testConfig(redis.url), { logger: silentLogger, name: 'conveyor-test-2' });
  try {
    const b = await conveyor.batches.create({
      jobs: [...jobsOn(q, 8), { queue: q, name: 'meet', opts: { attempts: 1 } }, { queue: q, name: 'meet', opts: { attempts: 1 } }],
      onSuccess: { queue: q, name: 'done' },
      onComplete: { queue: q, name: 'done' },
    });
    // Concurrency 1 each: the two meet jobs can only run one per worker.
    await startWorker(q, { meet }, 1);
    await startWorker(q, { meet }, 1, other);
    await settled(b.id, ['success', 'complete']);
    const store = new BatchStore(coreOf(other).queues);
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? store : new BatchStore(core.queues)).settle(q, b.id)));
    await store.close();
    await waitFor('the callbacks finished', async () => (await conveyor.getJob(q, callbackJobId(b.id, 'success')))?.state === 'completed');
    assert.equal(callbackRuns(b.id, 'success').length, 1, 'onSuccess ran once');
    assert.equal(callbackRuns(b.id, 'complete').length, 1, 'onComplete ran once');
    assert.equal(await addsOf(q, callbackJobId(b.id, 'success')), 1, 'onSuccess was enqueued once');
    assert.equal(await addsOf(q, callbackJobId(b.id, 'complete')), 1, 'onComplete was enqueued once');
    assert.equal(await core.conn.hlen(batchKeys.outbox(q, b.id)), 0, 'nothing left to deliver');
  } finally {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await other.close();
  }
});

test('a worker killed between BullMQ recording the last completion and the settle: the sweep of another worker fires the callback once', async () => {
  const q = uniqueQueue('batch-sweep');
  const b = await conveyor.batches.create({ jobs: jobsOn(q, 3), onComplete: { queue: q, name: 'done' } });
  // A bare BullMQ worker: it completes the jobs (BullMQ records them in the batch's ledger) and never settles,
  // like a Conveyor worker killed right after moveToFinished.
  const bare = new Worker(bullName(q), async (job) => ({ bare: job.id }), { connection: { host: redis.host, port: redis.port, maxRetriesPerRequest: null }, prefix: PREFIX, concurrency: 3 });
  await waitFor('all completed by the bare worker', async () => (await conveyor.batches.get(b.id)).succeeded === 3);
  await bare.close();
  assert.equal(callbackRuns(b.id, 'complete').length, 0, 'nobody settled yet');
  await startWorker(q);
  await settled(b.id, ['complete']);
  assert.equal(callbackRuns(b.id, 'complete').length, 1);
  assert.equal(await addsOf(q, callbackJobId(b.id, 'complete')), 1);
});

test('a finished batch is removed by the sweep after its retention: trackers, ledger, meta and index; its jobs stay ordinary jobs', async () => {
  const q = uniqueQueue('batch-keep');
  await startWorker(q);
  const b = await conveyor.batches.create({ jobs: jobsOn(q, 3), onComplete: { queue: q, name: 'done' } });
  await settled(b.id, ['complete']);
  await waitFor('its outbox delivered', async () => (await conveyor.batches.get(b.id)).callbacks.onComplete?.enqueuedAt);
  const store = new BatchStore(core.queues);
  await store.sweep(q, Date.now() + BATCH_KEEP_MS - 60_000);
  assert.equal((await conveyor.batches.get(b.id)).total, 3, 'kept until its retention ends');
  await store.sweep(q, Date.now() + BATCH_KEEP_MS + 60_000);
  await assert.rejects(conveyor.batches.get(b.id), (e) => isConveyorError(e, 'BATCH_NOT_FOUND'));
  const left = (await core.conn.keys(`*${b.id}*`)).filter((k) => !k.includes(`batch-${b.id}-`));
  assert.deepEqual(left, [], 'no key of the batch is left (its callback job keeps its own retention)');
  assert.equal(await core.conn.zscore(batchKeys.index, b.id), null);
  assert.equal((await conveyor.getJob(q, b.ids[0]!))?.state, 'completed', 'its jobs are untouched');
  await store.close();
});

test('typed jobs and callbacks: definitions give queue, name and defaults; data is checked against their schema', async () => {
  const q = uniqueQueue('batch-typed');
  const resize = defineJob({ name: 'resize', queue: q, schema: z.object({ url: z.string() }), defaults: { attempts: 2 } });
  const notify = defineJob({ name: 'notify', queue: q, schema: z.object({ batchId: z.string(), event: z.string() }).loose() });
  const seen: string[] = [];
  const w = createWorker({ conveyor, jobs: [resize.handle(async (d) => d.url.length), notify.handle(async (d) => void seen.push(d.event))], metrics: false });
  workers.push(w);
  await w.start();
  const b = await conveyor.batches.create({ jobs: [{ job: resize, data: { url: 'a' } }, { job: resize, data: { url: 'bb' } }], onSuccess: notify });
  await waitFor('notify ran', () => seen.includes('success'));
  const job = await conveyor.getJob(q, b.ids[0]!);
  assert.equal(job?.opts.attempts, 2, 'the definition\'s defaults');
  await assert.rejects(
    conveyor.batches.create({ jobs: [{ job: resize, data: { url: 'x' } }, { job: resize, data: { url: 3 as unknown as string } }] }),
    (e) => isConveyorError(e, 'PAYLOAD_INVALID') && /^jobs\.1\.data\.url/.test(e.message),
  );
  await stopWorker(w);
});

test('bad input is an error naming the problem, and writes nothing', async () => {
  const q = uniqueQueue('batch-bad');
  const known = defineJob({ name: 'known', queue: q });
  const strict = defineJob({ name: 'strict-callback', queue: q, schema: z.object({ orderId: z.number() }) });
  const withJobs = await openConveyor(testConfig(redis.url), { logger: silentLogger, name: 'conveyor-test-jobs', jobs: [known, strict] });
  try {
    // Other tests' workers run meanwhile: look for this queue's keys and any batch's, not at DBSIZE.
    const written = async () => [...(await core.conn.keys(`*{${q}}*`)), await core.conn.zcard(batchKeys.index), await core.conn.hlen(batchKeys.home)];
    const before = await written();
    const refuse = async (c: Conveyor, spec: unknown, code: string, message: RegExp) => {
      await assert.rejects(c.batches.create(spec as never), (e) => isConveyorError(e) && e.code === code && message.test(e.message), `${code} ${message}`);
      assert.deepEqual(await written(), before, `nothing written (${code})`);
    };
    await refuse(conveyor, { jobs: [] }, 'INVALID_REQUEST', /^jobs: a batch needs at least one job/);
    await refuse(conveyor, {}, 'INVALID_REQUEST', /^jobs: expected an array/);
    await refuse(conveyor, { jobs: jobsOn(q, 10_001) }, 'BATCH_TOO_LARGE', /10001 jobs in one call; a batch takes at most 10000/);
    await refuse(conveyor, { jobs: [...jobsOn(q, 3), { queue: q, name: 'work', opts: { attempts: 0 } }] }, 'INVALID_REQUEST', /^jobs\.3\.opts\.attempts/);
    await refuse(conveyor, { jobs: [{ queue: 'bad queue!', name: 'x' }] }, 'INVALID_QUEUE_NAME', /^jobs\.0\.queue/);
    await refuse(conveyor, { jobs: jobsOn(q, 1, (i) => ({ i }), { jobId: 'mine' }) }, 'INVALID_REQUEST', /^jobs\.0\.opts\.jobId/);
    await refuse(conveyor, { jobs: jobsOn(q, 1), oops: 1 }, 'INVALID_REQUEST', /unknown field "oops"/);
    await refuse(conveyor, { jobs: jobsOn(q, 1), onSuccess: { queue: q } }, 'INVALID_JOB_NAME', /^onSuccess\.name/);
    await refuse(withJobs, { jobs: [{ queue: q, name: 'known' }], onComplete: { queue: q, name: 'nobody-knows' } }, 'UNKNOWN_JOB_NAME', /^onComplete\.name: no job "nobody-knows" is known/);
    await refuse(withJobs, { jobs: [{ queue: q, name: 'known' }], onSuccess: strict }, 'PAYLOAD_INVALID', /^onSuccess: the schema of job "strict-callback" refuses the data a batch callback gets/);
    await refuse(conveyor, { jobs: jobsOn(q, 1), parent: 'no-such-batch' }, 'BATCH_NOT_FOUND', /^parent: no batch "no-such-batch"/);
    await assert.rejects(conveyor.batches.get('no-such-batch'), (e) => isConveyorError(e, 'BATCH_NOT_FOUND') && e.status === 404);
    await assert.rejects(conveyor.batches.add('no-such-batch', jobsOn(q, 1)), (e) => isConveyorError(e, 'BATCH_NOT_FOUND'));
    await assert.rejects(conveyor.batches.get('a:b'), (e) => isConveyorError(e, 'INVALID_REQUEST'));
  } finally {
    await withJobs.close();
  }
});

/** Compile-time checks of the typed API (never called). */
export async function typedApi(c: Conveyor): Promise<void> {
  const a = defineJob({ name: 'ta', schema: z.object({ userId: z.number() }) });
  const b = defineJob({ name: 'tb', schema: z.object({ url: z.string() }) });
  await c.batches.create({ jobs: [{ job: a, data: { userId: 1 } }, { job: b, data: { url: 'x' } }, { name: 'plain', data: 1 }], onSuccess: a });
  await c.batches.create({ jobs: [1, 2].map((userId) => ({ job: a, data: { userId } })), open: true });
  await c.batches.add('id', [{ job: b, data: { url: 'y' } }]);
  // @ts-expect-error userId must be a number
  await c.batches.create({ jobs: [{ job: a, data: { userId: 'x' } }] });
  // @ts-expect-error the second job's url must be a string
  await c.batches.create({ jobs: [{ job: a, data: { userId: 1 } }, { job: b, data: { url: 2 } }] });
  // @ts-expect-error mapped data checked too
  await c.batches.add('id', [1].map((userId) => ({ job: a, data: { userId: String(userId) } })));
}
