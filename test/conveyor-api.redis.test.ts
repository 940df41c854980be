/**
 * The public API an app uses (`import { Conveyor, defineJob } from 'conveyor'`,
 * `createWorker` from 'conveyor/worker'), against a redis-server this file
 * starts: connect, typed and plain enqueue (validation, defaults,
 * idempotency, atomic bulk), waitFor (result, JOB_FAILED with its code,
 * WAIT_TIMEOUT, JOB_NOT_FOUND), jobs, queues, dead letters by selection,
 * schedules, the fleet, and the embedded worker's own checks.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { Conveyor, defineJob, isConveyorError, type JobContext } from '../shared/index.ts';
import { createWorker, type ConveyorWorker } from '../worker/index.ts';
import { coreOf } from '../shared/conveyor.ts';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { freePort } from '../shared/testing/free-port.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';

let redis: RedisProcess;
let conveyor: Conveyor;
const workers: ConveyorWorker[] = [];

const q = uniqueQueue('api');
const welcome = defineJob({ name: 'send-welcome', queue: q, schema: z.object({ userId: z.number().int() }), defaults: { attempts: 2, backoff: { type: 'fixed', delay: 10 } } });
const welcomeJob = welcome.handle(async (data, ctx: JobContext) => ({ sent: data.userId, attempt: ctx.attempt }));
const slow = defineJob({ name: 'slow', queue: q, schema: z.object({ ms: z.number() }) }).handle(
  (data, ctx) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => resolve('done'), data.ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t);
        reject(ctx.signal.reason);
      });
    }),
);
const boom = defineJob({ name: 'boom', queue: q, defaults: { attempts: 1 } }).handle(() => {
  throw new Error('it went boom');
});

before(async () => {
  redis = await startRedis();
  conveyor = await Conveyor.connect({ redisUrl: redis.url, jobs: [welcome], heartbeatIntervalMs: 100, lockDurationMs: 3000, stalledIntervalMs: 1000, logLevel: 'silent' });
  const worker = createWorker({ conveyor, jobs: [welcomeJob, slow, boom] });
  workers.push(worker);
  await worker.start();
});
after(async () => {
  for (const w of workers) await w.stop();
  await conveyor?.close();
  await redis?.stop();
});

test('a typed enqueue runs on the embedded worker; waitFor gives the handler\'s result; the definition\'s defaults apply', async () => {
  const job = await conveyor.enqueue(welcome, { userId: 42 });
  assert.equal(job.queue, q);
  assert.equal(job.name, 'send-welcome');
  assert.equal(job.duplicate, false);
  const result = await conveyor.waitFor(job, { timeoutMs: 20_000 });
  assert.deepEqual(result, { sent: 42, attempt: 1 });
  const view = await conveyor.getJob(q, job.id);
  assert.equal(view?.state, 'completed');
  assert.equal(view?.opts.attempts, 2, 'defaults.attempts');
  assert.deepEqual(view?.returnValue, { sent: 42, attempt: 1 });
  // An enqueue's own options win over the defaults.
  const own = await conveyor.enqueue(welcome, { userId: 1 }, { attempts: 7 });
  assert.equal((await conveyor.getJob(q, own.id))?.opts.attempts, 7);
});

test('data its schema refuses is PAYLOAD_INVALID naming the path, typed or by name, single or bulk, and writes nothing', async () => {
  const before = (await conveyor.queues.get(q)).counts;
  await assert.rejects(conveyor.enqueue(welcome, { userId: 'x' } as never), (e) => isConveyorError(e, 'PAYLOAD_INVALID') && /^data\.userId: /.test(e.message));
  // By name: the definitions given to connect() validate plain enqueues too (as the HTTP API does).
  await assert.rejects(conveyor.enqueue(q, { name: 'send-welcome', data: {} }), (e) => isConveyorError(e, 'PAYLOAD_INVALID') && /^data\.userId: /.test(e.message));
  await assert.rejects(conveyor.enqueueBulk(welcome, [{ userId: 1 }, { userId: 2.5 }]), (e) => isConveyorError(e, 'PAYLOAD_INVALID') && /^jobs\.1\.data\.userId: /.test(e.message));
  assert.deepEqual((await conveyor.queues.get(q)).counts.waiting, before.waiting);
});

test('jobId makes an enqueue idempotent; a bulk is atomic and its jobs run', async () => {
  const a = await conveyor.enqueue(welcome, { userId: 5 }, { jobId: 'welcome-5' });
  const b = await conveyor.enqueue(welcome, { userId: 5 }, { jobId: 'welcome-5' });
  assert.equal(a.duplicate, false);
  assert.equal(b.duplicate, true);
  assert.equal(b.id, 'welcome-5');
  const { ids } = await conveyor.enqueueBulk(welcome, [{ userId: 10 }, { userId: 11 }, { userId: 12 }]);
  assert.equal(ids.length, 3);
  const results = await Promise.all(ids.map((id) => conveyor.waitFor(q, id, { timeoutMs: 20_000 })));
  assert.deepEqual(results.map((r) => (r as { sent: number }).sent), [10, 11, 12]);
  const plain = await conveyor.enqueueBulk(q, [{ name: 'noop' }, { name: 'noop', data: { x: 1 } }]);
  assert.equal(plain.ids.length, 2);
});

test('waitFor: a job that fails for good is JOB_FAILED with its reason and code; a timeout is WAIT_TIMEOUT; an unknown id JOB_NOT_FOUND', async () => {
  const failing = await conveyor.enqueue(boom, undefined);
  await assert.rejects(conveyor.waitFor(failing, { timeoutMs: 20_000 }), (e) => isConveyorError(e, 'JOB_FAILED') && e.message === 'it went boom' && e.details?.failureCode === undefined);
  const timedOut = await conveyor.enqueue(slow, { ms: 60_000 }, { timeout: 50, attempts: 1 });
  await assert.rejects(conveyor.waitFor(timedOut, { timeoutMs: 20_000 }), (e) => isConveyorError(e, 'JOB_FAILED') && e.details?.failureCode === 'JOB_TIMEOUT');
  // No worker consumes this queue: the job waits, so the wait times out (and the job is untouched).
  const idle = uniqueQueue('idle');
  const waiting = await conveyor.enqueue(idle, { name: 'noop' });
  await assert.rejects(conveyor.waitFor(waiting, { timeoutMs: 200 }), (e) => isConveyorError(e, 'WAIT_TIMEOUT'));
  assert.equal((await conveyor.getJob(idle, waiting.id))?.state, 'waiting');
  await assert.rejects(conveyor.waitFor(q, 'no-such-job', { timeoutMs: 5000 }), (e) => isConveyorError(e, 'JOB_NOT_FOUND'));
  // A job that failed before the wait began is answered from its state.
  await assert.rejects(conveyor.waitFor(failing, { timeoutMs: 5000 }), (e) => isConveyorError(e, 'JOB_FAILED'));
  await assert.rejects(conveyor.waitFor(q, 'x', { timeoutMs: -1 }), (e) => isConveyorError(e, 'INVALID_REQUEST'));
});

test('dead letters: list (with match), replay and drop by id, ids, match or all, with a dry run that changes nothing', async () => {
  const dq = uniqueQueue('dead');
  const fail = defineJob({ name: 'fail', queue: dq, defaults: { attempts: 1 } });
  const w = createWorker({ conveyor, queues: [dq], concurrency: 5 });
  workers.push(w);
  await w.start();
  const jobs = await Promise.all([1, 2, 3, 4].map((i) => conveyor.enqueue(fail, { message: i % 2 ? 'timeout talking to smtp' : 'bad address' })));
  for (const j of jobs) await assert.rejects(conveyor.waitFor(j, { timeoutMs: 20_000 }), (e) => isConveyorError(e, 'JOB_FAILED'));
  await waitFor('four dead letters', async () => (await conveyor.deadLetters.list(dq)).total === 4);
  await w.quiet();

  const matching = await conveyor.deadLetters.list(dq, { match: 'SMTP' });
  assert.equal(matching.total, 2);
  const dry = await conveyor.deadLetters.replay(dq, { match: 'smtp' }, { dryRun: true });
  assert.equal(dry.selected, 2);
  assert.equal(dry.done, 0);
  assert.equal((await conveyor.deadLetters.list(dq)).total, 4, 'a dry run changes nothing');

  const one = await conveyor.deadLetters.drop(dq, jobs[0]!.id);
  assert.deepEqual([one.selected, one.done], [1, 1]);
  const some = await conveyor.deadLetters.replay(dq, { ids: [jobs[1]!.id, 'gone-already'] });
  assert.deepEqual([some.done, some.gone], [1, 1]);
  const replayed = await conveyor.getJob(dq, jobs[1]!.id);
  assert.equal(replayed?.name, 'fail');
  assert.notEqual(replayed?.state, 'dead');
  const rest = await conveyor.deadLetters.drop(dq, { all: true });
  assert.equal(rest.done, 2);
  await assert.rejects(conveyor.deadLetters.replay(dq, { all: false } as never), (e) => isConveyorError(e, 'INVALID_REQUEST'));
  await assert.rejects(conveyor.deadLetters.replay(uniqueQueue('none'), { all: true }), (e) => isConveyorError(e, 'QUEUE_NOT_FOUND'));
});

test('queues: list, get, pause and resume; an unknown queue is QUEUE_NOT_FOUND', async () => {
  const names = (await conveyor.queues.list()).map((x) => x.name);
  assert.ok(names.includes(q));
  await conveyor.queues.pause(q);
  assert.equal((await conveyor.queues.get(q)).paused, true);
  await conveyor.queues.resume(q);
  assert.equal((await conveyor.queues.get(q)).paused, false);
  await assert.rejects(conveyor.queues.get(uniqueQueue('nope')), (e) => isConveyorError(e, 'QUEUE_NOT_FOUND'));
  const page = await conveyor.listJobs(q, { state: 'completed', limit: 2 });
  assert.equal(page.limit, 2);
  assert.ok(page.total >= 2 && page.jobs.length === 2);
  await assert.rejects(conveyor.listJobs(q, { state: 'bogus' as never }), (e) => isConveyorError(e, 'INVALID_REQUEST'));
});

test('schedules: put, get, list, pause, resume, run now, remove; a bad cron is INVALID_CRON and stores nothing', async () => {
  const id = `nightly-${uniqueQueue()}`;
  const put = await conveyor.schedules.put(id, { queue: q, name: 'send-welcome', cron: '0 2 * * *', tz: 'Europe/Paris', data: { userId: 7 } });
  assert.equal(put.created, true);
  assert.equal(put.schedule.nextRuns.length, 5);
  assert.equal((await conveyor.schedules.get(id)).cron, '0 2 * * *');
  assert.ok((await conveyor.schedules.list({ queue: q })).some((s) => s.id === id));
  assert.equal((await conveyor.schedules.pause(id)).paused, true);
  assert.equal((await conveyor.schedules.resume(id)).paused, false);
  const ran = await conveyor.schedules.run(id);
  assert.deepEqual(await conveyor.waitFor(ran, { timeoutMs: 20_000 }), { sent: 7, attempt: 1 });
  await conveyor.schedules.remove(id);
  await assert.rejects(conveyor.schedules.get(id), (e) => isConveyorError(e, 'SCHEDULE_NOT_FOUND'));
  await assert.rejects(conveyor.schedules.put(`${id}-bad`, { queue: q, name: 'x', cron: 'every day' }), (e) => isConveyorError(e, 'INVALID_CRON'));
  await assert.rejects(conveyor.schedules.get(`${id}-bad`), (e) => isConveyorError(e, 'SCHEDULE_NOT_FOUND'));
});

test('the fleet shows the embedded worker; quiet and stop reach it (stop ends that worker, not the process)', async () => {
  const fq = uniqueQueue('fleet');
  const w = createWorker({ conveyor, queues: [fq], concurrency: 3 });
  workers.push(w);
  await w.start();
  const mine = await waitFor('the worker in the fleet', async () => (await conveyor.fleet.list()).find((b) => b.id === w.id));
  assert.deepEqual(mine.queues, [fq]);
  assert.equal(mine.concurrency, 3);
  assert.deepEqual(await conveyor.fleet.quiet(w.id), [w.id]);
  await waitFor('it reports quiet', async () => (await conveyor.fleet.list()).find((b) => b.id === w.id)?.state === 'quiet');
  assert.deepEqual(await conveyor.fleet.stop(w.id), [w.id]);
  await waitFor('it left the fleet', async () => !(await conveyor.fleet.list()).some((b) => b.id === w.id));
  assert.deepEqual(await conveyor.fleet.stop('no-such-worker'), []);
  assert.throws(() => conveyor.fleet.quiet(''), (e) => isConveyorError(e, 'INVALID_REQUEST'));
});

test('the embedded worker checks data against the schema before its handler runs: PAYLOAD_INVALID goes straight to the dead letters', async () => {
  let ran = 0;
  const vq = uniqueQueue('validated');
  const strict = defineJob({ name: 'strict', queue: vq, schema: z.object({ n: z.number() }) }).handle(() => ++ran);
  // A producer that does not know the definition (another service, or a raw BullMQ add) writes bad data.
  const other = await Conveyor.connect({ redisUrl: redis.url, logLevel: 'silent' });
  try {
    const w = createWorker({ conveyor, jobs: [strict] });
    workers.push(w);
    assert.deepEqual(w.queues, [vq], 'by default a worker consumes its jobs\' queues');
    await w.start();
    const bad = await other.enqueue(vq, { name: 'strict', data: { n: 'nope' }, opts: { attempts: 5 } });
    await assert.rejects(conveyor.waitFor(bad, { timeoutMs: 20_000 }), (e) => isConveyorError(e, 'JOB_FAILED') && e.details?.failureCode === 'PAYLOAD_INVALID');
    const dead = await waitFor('the dead letter', () => conveyor.deadLetters.get(vq, bad.id));
    assert.equal(dead.attemptsMade, 1, 'no retry: the data will not change');
    assert.equal(ran, 0);
    assert.ok(w.metrics, 'a metrics registry by default');
    assert.match(await w.metrics!.render(), /conveyor_jobs_failed_total\{[^}]*queue="/);
  } finally {
    await other.close();
  }
});

test('createWorker refuses two handlers of one job name, a definition without a handler, and bad settings, naming them', () => {
  const a = defineJob({ name: 'twice', queue: q }).handle(() => 1);
  const b = defineJob({ name: 'twice', queue: q }).handle(() => 2);
  assert.throws(() => createWorker({ conveyor, jobs: [a, b] }), (e) => isConveyorError(e, 'INVALID_JOB_DEFINITION') && /"twice"/.test(e.message));
  assert.throws(() => createWorker({ conveyor, jobs: [defineJob({ name: 'bare' })] }), (e) => isConveyorError(e, 'INVALID_JOB_DEFINITION') && /"bare" has no handler/.test(e.message));
  assert.throws(() => createWorker({ conveyor, jobs: [a], handlers: { twice: () => 3 } }), (e) => isConveyorError(e, 'INVALID_JOB_DEFINITION'));
  assert.throws(() => createWorker({ conveyor, concurrency: 0 }), (e) => isConveyorError(e, 'CONFIG_INVALID'));
  assert.throws(() => createWorker({ conveyor, queues: ['bad queue'] }), (e) => isConveyorError(e, 'INVALID_QUEUE_NAME'));
  assert.throws(() => createWorker({ conveyor: {} as Conveyor }), (e) => isConveyorError(e));
});

test('connect: a bad option or URL fails before any connection; nothing listening is REDIS_UNAVAILABLE, not a hang; close is idempotent', async () => {
  await assert.rejects(Conveyor.connect({ redisUrl: 'redis://127.0.0.1:99999' }), (e) => isConveyorError(e, 'REDIS_URL_INVALID') && /^redisUrl /.test(e.message));
  await assert.rejects(Conveyor.connect({ concurrency: -1 }), (e) => isConveyorError(e, 'CONFIG_INVALID') && /concurrency/.test(e.message));
  await assert.rejects(Conveyor.connect({ jobs: 'nope' as never }), (e) => isConveyorError(e, 'INVALID_JOB_DEFINITION'));
  const port = await freePort();
  await assert.rejects(Conveyor.connect({ redisUrl: `redis://127.0.0.1:${port}`, logLevel: 'silent' }), (e) => isConveyorError(e, 'REDIS_UNAVAILABLE'));
  const env = await Conveyor.fromEnv({ REDIS_URL: redis.url, LOG_LEVEL: 'silent' });
  assert.equal(coreOf(env).config.redis.redacted, redis.url);
  await env.close();
  await env.close();
});
