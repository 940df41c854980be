import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { UnrecoverableError } from 'bullmq';
import type { RedisProcess } from '../testing/redis-process.ts';
import { testConfig, uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../testing/fixtures.ts';
import { waitFor } from '../testing/wait-for.ts';
import { WorkerHost } from '../runtime/worker-host.ts';
import { silentLogger } from '../log.ts';
import { isConveyorError } from '../errors.ts';
import type { Handler } from '../runtime/handler.ts';
import { fail, noop, sleep } from '../../worker/handlers/basic.ts';

let redis: RedisProcess;
let core: Core;
const hosts: WorkerHost[] = [];

before(async () => {
  ({ redis, core } = await redisAndCore());
});
after(async () => {
  await Promise.all(hosts.map((h) => h.stop()));
  await closeRedisAndCore(redis, core);
});

async function startWorker(queue: string, handlers: Record<string, Handler>, env: Record<string, string> = {}): Promise<WorkerHost> {
  const host = new WorkerHost({ config: testConfig(redis.url, { CONCURRENCY: '5', ...env }), handlers, logger: silentLogger, queues: [queue] });
  hosts.push(host);
  await host.start();
  return host;
}

test('a job enqueued through the library is processed and completed with its return value', async () => {
  const q = uniqueQueue();
  await startWorker(q, { double: (d: { n: number }) => d.n * 2 });
  const { id, duplicate } = await core.producer.enqueue(q, { name: 'double', data: { n: 21 } });
  assert.equal(duplicate, false);
  const job = await waitFor('job completed', async () => {
    const j = await core.inspector.getJob(q, id);
    return j?.state === 'completed' ? j : undefined;
  });
  assert.equal(job.returnValue, 42);
  assert.deepEqual(job.data, { n: 21 });
  assert.ok(job.processedAt && job.finishedAt);
});

test('the same jobId twice enqueues once and reports the duplicate', async () => {
  const q = uniqueQueue();
  const a = await core.producer.enqueue(q, { name: 'x', data: { v: 1 }, opts: { jobId: 'order-17' } });
  const b = await core.producer.enqueue(q, { name: 'x', data: { v: 2 }, opts: { jobId: 'order-17' } });
  assert.equal(a.duplicate, false);
  assert.equal(b.duplicate, true);
  assert.equal(b.id, 'order-17');
  const s = await core.inspector.summary(q);
  assert.equal(s.counts.waiting, 1);
  assert.deepEqual((await core.inspector.getJob(q, 'order-17'))?.data, { v: 1 });
});

test('a bulk with one invalid job enqueues none; a valid bulk enqueues all', async () => {
  const q = uniqueQueue();
  await assert.rejects(
    core.producer.enqueueBulk(q, [{ name: 'a', data: 1 }, { name: 'b', opts: { attempts: 0 } }, { name: 'c' }]),
    (err: unknown) => isConveyorError(err) && /jobs\.1\.opts\.attempts/.test(err.message),
  );
  assert.equal((await core.inspector.summary(q).catch(() => undefined))?.counts.waiting ?? 0, 0);
  const { ids } = await core.producer.enqueueBulk(q, [{ name: 'a' }, { name: 'b' }, { name: 'c', opts: { delay: 60_000 } }]);
  assert.equal(ids.length, 3);
  const s = await core.inspector.summary(q);
  assert.equal(s.counts.waiting, 2);
  assert.equal(s.counts.delayed, 1);
});

test('a failing job is retried with backoff, dead-lettered with its error, and replay completes it', async () => {
  const q = uniqueQueue();
  const seen: number[] = [];
  await startWorker(q, {
    flaky: (_d, ctx) => {
      seen.push(Date.now());
      throw new Error(`boom on attempt ${ctx.attempt}`);
    },
  });
  const { id } = await core.producer.enqueue(q, { name: 'flaky', data: { k: 'v' }, opts: { attempts: 3, backoff: { type: 'fixed', delay: 200 } } });
  const dead = await waitFor('dead letter', () => core.inspector.deadLetters.get(q, id), { timeoutMs: 15_000 });
  assert.equal(seen.length, 3);
  assert.ok(seen[1]! - seen[0]! >= 190, `backoff between attempts was ${seen[1]! - seen[0]!} ms`);
  assert.equal(dead.attemptsMade, 3);
  assert.equal(dead.failedReason, 'boom on attempt 3');
  assert.ok(dead.stacktrace.length > 0);
  assert.deepEqual(dead.data, { k: 'v' });
  assert.equal(dead.name, 'flaky');
  // Burial adds the dead letter, then removes the failed original: wait for the second step.
  const s = await waitFor('the failed original removed', async () => {
    const sum = await core.inspector.summary(q);
    return sum.counts.failed === 0 ? sum : undefined;
  });
  assert.equal(s.counts.dead, 1);
  assert.equal((await core.inspector.getJob(q, id))?.state, 'dead');

  // a second worker with a fixed handler; replay keeps id, name and data
  const q2handlers = { flaky: (d: unknown) => ({ ok: d }) };
  await hosts.pop()!.stop();
  await startWorker(q, q2handlers);
  await core.inspector.deadLetters.replay(q, id);
  const done = await waitFor('replayed job completed', async () => {
    const j = await core.inspector.getJob(q, id);
    return j?.state === 'completed' ? j : undefined;
  });
  assert.deepEqual(done.returnValue, { ok: { k: 'v' } });
  assert.equal(await core.inspector.deadLetters.count(q), 0);
});

test('UnrecoverableError skips the remaining attempts', async () => {
  const q = uniqueQueue();
  let runs = 0;
  await startWorker(q, {
    bad: () => {
      runs++;
      throw new UnrecoverableError('do not retry me');
    },
  });
  const { id } = await core.producer.enqueue(q, { name: 'bad', opts: { attempts: 5, backoff: { type: 'fixed', delay: 10 } } });
  const dead = await waitFor('dead letter', () => core.inspector.deadLetters.get(q, id));
  assert.equal(runs, 1);
  assert.equal(dead.attemptsMade, 1);
});

test('a job with no handler fails with HANDLER_NOT_FOUND and is dead-lettered', async () => {
  const q = uniqueQueue();
  await startWorker(q, { noop });
  const { id } = await core.producer.enqueue(q, { name: 'nobody-handles-this', opts: { attempts: 2, backoff: { type: 'fixed', delay: 10 } } });
  const dead = await waitFor('dead letter', () => core.inspector.deadLetters.get(q, id));
  assert.match(dead.failedReason, /^HANDLER_NOT_FOUND: /);
  assert.equal(dead.attemptsMade, 2);
});

test('a job running past its timeout fails that attempt with JOB_TIMEOUT, and its handler is aborted', async () => {
  const q = uniqueQueue();
  await startWorker(q, { sleep });
  // An hour's sleep: only the timeout can end the attempt while the test waits.
  const { id } = await core.producer.enqueue(q, { name: 'sleep', data: { ms: 3600_000 }, opts: { timeout: 200, attempts: 1 } });
  const dead = await waitFor('dead letter', () => core.inspector.deadLetters.get(q, id));
  assert.match(dead.failedReason, /^JOB_TIMEOUT: /);
});

test('the fail handler succeeds after `times` failures', async () => {
  const q = uniqueQueue();
  await startWorker(q, { fail });
  const { id } = await core.producer.enqueue(q, { name: 'fail', data: { times: 2 }, opts: { attempts: 3, backoff: { type: 'fixed', delay: 10 } } });
  const job = await waitFor('completed', async () => {
    const j = await core.inspector.getJob(q, id);
    return j?.state === 'completed' ? j : undefined;
  });
  assert.deepEqual(job.returnValue, { succeededOnAttempt: 3 });
});

test('dead letters list newest first, drop one and drop all', async () => {
  const q = uniqueQueue();
  await startWorker(q, { fail });
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const { id } = await core.producer.enqueue(q, { name: 'fail', data: { i }, opts: { attempts: 1 } });
    ids.push(id);
    await waitFor('dead', () => core.inspector.deadLetters.get(q, id));
  }
  const page = await core.inspector.deadLetters.list(q, 0, 2);
  assert.equal(page.total, 3);
  assert.deepEqual(page.jobs.map((j) => j.id), [ids[2], ids[1]]);
  const page2 = await core.inspector.deadLetters.list(q, 2, 2);
  assert.deepEqual(page2.jobs.map((j) => j.id), [ids[0]]);
  await core.inspector.deadLetters.drop(q, ids[0]!);
  assert.equal(await core.inspector.deadLetters.count(q), 2);
  assert.equal(await core.inspector.deadLetters.dropAll(q), 2);
  assert.equal(await core.inspector.deadLetters.count(q), 0);
});

test('pause holds jobs back and resume lets them run', async () => {
  const q = uniqueQueue();
  await core.producer.enqueue(q, { name: 'noop' });
  await core.inspector.pause(q);
  assert.equal((await core.inspector.summary(q)).paused, true);
  await startWorker(q, { noop });
  const { id } = await core.producer.enqueue(q, { name: 'noop' });
  assert.equal((await core.inspector.getJob(q, id))?.state, 'waiting');
  await core.inspector.resume(q);
  await waitFor('completed after resume', async () => (await core.inspector.getJob(q, id))?.state === 'completed');
});
