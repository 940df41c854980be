/**
 * Sandboxed handlers (defineJob `isolation: 'process' | 'thread'`), with real
 * Redis, real child processes and worker threads (BullMQ's Child), for both
 * isolations: a job completes with its return value (and its schema's
 * output); a `while (true) {}` past its timeout fails with JOB_TIMEOUT and
 * loses its sandbox while the worker's in-process jobs go on; process.exit
 * and running out of heap fail that attempt only (HANDLER_CRASHED, retried);
 * a module that throws at import fails each attempt with HANDLER_LOAD_FAILED
 * (dead-lettered) while the worker goes on; stop() leaves no sandbox alive.
 * And `conveyor worker --jobs` (the compiled CLI) with `isolation: 'process'`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { spawnConveyor } from '../shared/testing/processes.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { Conveyor, defineJob, isConveyorError } from '../shared/index.ts';
import { coreOf } from '../shared/conveyor.ts';
import { keys } from '../shared/queue/names.ts';
import { createWorker, type ConveyorWorker } from '../worker/index.ts';
import { liveSandboxes } from '../shared/runtime/sandbox.ts';
import { inline, processJobs, threadJobs } from './fixtures/sandbox-jobs.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'sandbox-jobs.ts');
const BROKEN = join(import.meta.dirname, 'fixtures', 'sandbox-broken.ts');
const MODES = ['process', 'thread'] as const;
type Mode = (typeof MODES)[number];

let redis: RedisProcess;
/** The worker's Conveyor: it knows the jobs (their schemas); sandboxes get a 64 MB heap; a stop waits 1 s for running jobs. */
let conveyor: Conveyor;
/** A producer that knows no jobs: its enqueues are not validated, so bad data reaches the worker. */
let producer: Conveyor;
let worker: ConveyorWorker;
let brokenWorker: ConveyorWorker;
const queue = uniqueQueue('sandbox');
const brokenQueue = uniqueQueue('sandbox-broken');
/** The workers' log lines. */
const lines: Record<string, any>[] = [];

const broken = MODES.map((mode) => defineJob({ name: `broken-${mode}`, isolation: mode }).handle(async () => 'never'));

before(async () => {
  redis = await startRedis();
  conveyor = await Conveyor.connect({ redisUrl: redis.url, logLevel: 'silent', sandboxMaxHeapMb: 64, shutdownGraceMs: 1000 });
  producer = await Conveyor.connect({ redisUrl: redis.url, logLevel: 'silent' });
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  worker = createWorker({ conveyor, jobs: [...Object.values(processJobs), ...Object.values(threadJobs), inline], queues: [queue], concurrency: 6, jobsModule: FIXTURE, logger, metrics: false });
  brokenWorker = createWorker({ conveyor, jobs: broken, queues: [brokenQueue], concurrency: 2, jobsModule: BROKEN, logger, metrics: false });
  await Promise.all([worker.start(), brokenWorker.start()]);
});

after(async () => {
  await Promise.allSettled([worker?.stop(), brokenWorker?.stop()]);
  await producer?.close();
  await conveyor?.close();
  await redis?.stop();
});

const gone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
};

const jobsOf = (mode: Mode) => (mode === 'process' ? processJobs : threadJobs);

async function failure(q: string, id: string): Promise<{ code: unknown; message: string }> {
  return conveyor.waitFor(q, id, { timeoutMs: 15_000 }).then(
    (r) => assert.fail(`job ${id} completed (${JSON.stringify(r)}) where it should fail`),
    (e: unknown) => {
      assert.ok(isConveyorError(e, 'JOB_FAILED'), String(e));
      return { code: e.details?.failureCode, message: e.message };
    },
  );
}

async function progress(id: string): Promise<any> {
  const raw = await coreOf(conveyor).conn.hget(keys.job(queue, id), 'progress');
  return raw ? JSON.parse(raw) : undefined;
}

for (const mode of MODES) {
  test(`${mode}: a job completes with its return value, in a sandbox, with its schema's output and its context`, async () => {
    const { echo } = jobsOf(mode);
    const job = await conveyor.enqueue(queue, { name: echo.name, data: { n: 7, at: '2024-01-02' }, opts: { key: 'tenant-1', attempts: 2 } });
    const r = (await conveyor.waitFor(job, { timeoutMs: 15_000 })) as Record<string, unknown>;
    assert.equal(r.n, 7);
    assert.equal(r.atIsDate, true, 'z.coerce.date() ran in the sandbox: the handler got a Date');
    assert.deepEqual([r.attempt, r.maxAttempts, r.queue, r.key, r.id], [1, 2, queue, 'tenant-1', job.id]);
    if (mode === 'process') assert.notEqual(r.pid, process.pid, 'ran in another process');
    else assert.deepEqual([r.pid, r.isMainThread], [process.pid, false], 'ran in a worker thread of this process');
    assert.equal(await progress(job.id), 50, 'ctx.job.updateProgress reached the job');
    // Data its schema refuses: PAYLOAD_INVALID from the sandbox, permanent (one attempt).
    const bad = await producer.enqueue(queue, { name: echo.name, data: { n: 'seven' }, opts: { attempts: 3 } });
    const f = await failure(queue, bad.id);
    assert.equal(f.code, 'PAYLOAD_INVALID');
    assert.match(f.message, /data\.n: /);
    assert.equal((await conveyor.getJob(queue, bad.id))?.attemptsMade, 1, 'no retries');
  });

  test(`${mode}: while (true) {} past its timeout fails with JOB_TIMEOUT and loses its sandbox; in-process jobs go on meanwhile`, async () => {
    const { loop } = jobsOf(mode);
    const looping = await conveyor.enqueue(queue, { name: loop.name, opts: { timeout: 500, attempts: 1 } });
    // It is spinning in its sandbox once it has reported where.
    const where = await waitFor('the loop to report its sandbox', () => progress(looping.id), { timeoutMs: 10_000 });
    const running = (await conveyor.getJob(queue, looping.id))!;
    assert.equal(running.state, 'active');
    // Enqueued after the loop started, finished before its timeout fired.
    const other = await conveyor.enqueue(queue, { name: inline.name });
    const noop = await conveyor.enqueue(queue, { name: 'noop' });
    assert.equal(((await conveyor.waitFor(other, { timeoutMs: 10_000 })) as { pid: number }).pid, process.pid);
    await conveyor.waitFor(noop, { timeoutMs: 10_000 });
    const f = await failure(queue, looping.id);
    assert.equal(f.code, 'JOB_TIMEOUT');
    const [o, n, l] = await Promise.all([other, noop, looping].map((j) => conveyor.getJob(queue, j.id)));
    assert.ok(Date.parse(o!.finishedAt!) < Date.parse(l!.finishedAt!), `the in-process job (${o!.finishedAt}) finished before the loop failed (${l!.finishedAt})`);
    assert.ok(Date.parse(n!.finishedAt!) < Date.parse(l!.finishedAt!), 'so did the noop');
    const took = Date.parse(l!.finishedAt!) - Date.parse(l!.processedAt!);
    assert.ok(took < 500 + 1000, `failed ${took} ms after it started (timeout 500 ms + 1 s)`);
    if (mode === 'process') {
      assert.notEqual(where.pid, process.pid);
      await waitFor(`the looping child ${where.pid} to be gone`, () => gone(where.pid), { timeoutMs: 1000 });
    } else {
      assert.equal(where.isMainThread, false);
      await waitFor(`the looping thread ${where.threadId} to be gone`, () => !liveSandboxes().some((s) => s.threadId === where.threadId), { timeoutMs: 1000 });
    }
  });

  test(`${mode}: process.exit and running out of heap fail that attempt only (HANDLER_CRASHED), retried like any failure`, async () => {
    const { exit, oom } = jobsOf(mode);
    const exiting = await conveyor.enqueue(queue, { name: exit.name, opts: { attempts: 2, backoff: { type: 'fixed', delay: 10 } } });
    const hungry = await conveyor.enqueue(queue, { name: oom.name, opts: { attempts: 1 } });
    const r = (await conveyor.waitFor(exiting, { timeoutMs: 15_000 })) as { attempt: number };
    assert.equal(r.attempt, 2, 'the second attempt succeeded');
    const first = lines.find((l) => l.jobId === exiting.id && l.msg === 'job attempt failed');
    assert.ok(first, 'the first attempt failed');
    assert.match(first.err, /^HANDLER_CRASHED: the sandboxed handler's (process \d+|thread \d+) exited with code 1 while running the job/);
    const f = await failure(queue, hungry.id);
    assert.equal(f.code, 'HANDLER_CRASHED');
    assert.match(f.message, /out of memory\? SANDBOX_MAX_HEAP_MB=64/);
  });

  test(`${mode}: a module that throws at import fails each attempt with HANDLER_LOAD_FAILED, is dead-lettered, and the worker goes on`, async () => {
    const job = await conveyor.enqueue(brokenQueue, { name: `broken-${mode}`, opts: { attempts: 2, backoff: { type: 'fixed', delay: 10 } } });
    const f = await failure(brokenQueue, job.id);
    assert.equal(f.code, 'HANDLER_LOAD_FAILED');
    assert.match(f.message, /sandbox-broken: this module refuses to load/);
    const dead = await waitFor('the dead letter', () => conveyor.deadLetters.get(brokenQueue, job.id));
    assert.equal(dead.attemptsMade, 2);
    assert.equal(lines.filter((l) => l.jobId === job.id && /^HANDLER_LOAD_FAILED/.test(l.err ?? '')).length, 2, 'both attempts');
    const noop = await conveyor.enqueue(brokenQueue, { name: 'noop' });
    await conveyor.waitFor(noop, { timeoutMs: 10_000 });
  });
}

test('a sandboxed job without a module to load it from is refused at createWorker, naming it', () => {
  assert.throws(
    () => createWorker({ conveyor, jobs: [processJobs.echo], queues: [queue] }),
    (e) => isConveyorError(e, 'INVALID_JOB_DEFINITION') && /job "echo-process" runs sandboxed \(isolation 'process'\)/.test(e.message) && /jobsModule/.test(e.message),
  );
  assert.throws(
    () => createWorker({ conveyor, jobs: [inline], handlers: { plain: () => 1 }, isolation: 'thread', queues: [queue] }),
    (e) => isConveyorError(e, 'INVALID_HANDLER') && /"plain" runs sandboxed/.test(e.message),
  );
  assert.throws(() => createWorker({ conveyor, jobs: [processJobs.echo], jobsModule: './no-such-jobs.js', queues: [queue] }), (e) => isConveyorError(e, 'INVALID_JOB_DEFINITION') && /no such file/.test(e.message));
  assert.throws(() => createWorker({ conveyor, isolation: 'vm' as never }), (e) => isConveyorError(e, 'CONFIG_INVALID') && /isolation/.test(e.message));
  // In-process (the default isolation, 'none'), plain handlers need no module.
  assert.doesNotThrow(() => createWorker({ conveyor, jobs: [inline], handlers: { plain: () => 1 }, queues: [queue] }));
});

test('stop() leaves no sandbox alive: idle children exit, a busy one is killed after the grace period (its job handed back)', async () => {
  // A few idle sandboxes of each kind in the pool…
  const jobs = await Promise.all(MODES.flatMap((m) => [1, 2, 3].map((n) => conveyor.enqueue(queue, { name: jobsOf(m).echo.name, data: { n } }))));
  const results = (await Promise.all(jobs.map((j) => conveyor.waitFor(j, { timeoutMs: 15_000 })))) as { pid: number }[];
  const pids = new Set(results.map((r) => r.pid).filter((p) => p !== process.pid));
  // …and one busy one of each kind, spinning with no timeout.
  const loops = await Promise.all(MODES.map((m) => conveyor.enqueue(queue, { name: jobsOf(m).loop.name, opts: { attempts: 1 } })));
  for (const l of loops) {
    const where = await waitFor('the loop to report its sandbox', () => progress(l.id), { timeoutMs: 10_000 });
    if (where.pid !== process.pid) pids.add(where.pid);
  }
  assert.ok(pids.size >= 2);
  assert.ok(liveSandboxes().some((s) => s.mode === 'thread') && liveSandboxes().some((s) => s.mode === 'process'), 'sandboxes of both kinds are alive before stop');
  await Promise.all([worker.stop(), brokenWorker.stop()]);
  assert.deepEqual(liveSandboxes(), [], 'no sandbox left');
  for (const pid of pids) assert.ok(gone(pid), `child ${pid} has exited`);
  for (const l of loops) {
    const j = await conveyor.getJob(queue, l.id);
    assert.deepEqual([j?.state, j?.attemptsMade], ['waiting', 0], 'handed back to its queue, no attempt counted');
  }
});

test('conveyor worker --jobs (the compiled CLI) runs a job defined with isolation: \'process\' in a child process, and its plain handlers in threads under WORKER_ISOLATION=thread', async () => {
  const root = join(import.meta.dirname, '..');
  const artifacts = join(root, 'test-artifacts');
  mkdirSync(artifacts, { recursive: true });
  const dir = mkdtempSync(join(artifacts, 'sandbox-cli-'));
  const dist = pathToFileURL(join(root, 'dist', 'shared', 'index.js')).href;
  const q = uniqueQueue('sandbox-cli');
  writeFileSync(
    join(dir, 'jobs.mjs'),
    `import { z } from 'zod';
import { isMainThread } from 'node:worker_threads';
import { defineJob } from ${JSON.stringify(dist)};
export const handlers = { where: async () => ({ pid: process.pid, isMainThread }) };
export const square = defineJob({ name: 'square', queue: ${JSON.stringify(q)}, isolation: 'process', schema: z.object({ n: z.number() }) })
  .handle(async (data) => ({ square: data.n * data.n, pid: process.pid }));
`,
  );
  const cli = spawnConveyor('worker', { REDIS_URL: redis.url, QUEUES: q, WORKER_ISOLATION: 'thread' }, [], { compiled: true, args: ['--jobs', './jobs.mjs'], cwd: dir });
  let childPid: number | undefined;
  try {
    await cli.waitForLine('worker started', (j) => j.msg === 'worker started');
    const job = await producer.enqueue(q, { name: 'square', data: { n: 12 } });
    const r = (await producer.waitFor(job, { timeoutMs: 20_000 })) as { square: number; pid: number };
    assert.equal(r.square, 144);
    childPid = r.pid;
    assert.notEqual(childPid, cli.proc.pid, 'not in the worker process');
    assert.ok(!gone(childPid), 'its child is idle in the pool');
    const plain = await producer.enqueue(q, { name: 'where' });
    assert.deepEqual(await producer.waitFor(plain, { timeoutMs: 20_000 }), { pid: cli.proc.pid, isMainThread: false }, 'a thread of the worker process');
  } finally {
    assert.equal(await cli.stop(), 0);
  }
  assert.ok(gone(childPid!), `the sandbox ${childPid} exited with the worker`);
});
