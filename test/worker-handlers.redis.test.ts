/**
 * HANDLERS in a real worker process: the example folder runs, a bad path or a
 * module exporting junk stops the start with INVALID_HANDLER, and a job no
 * handler takes is dead-lettered with HANDLER_NOT_FOUND.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnConveyor, type ConveyorProcess } from '../shared/testing/processes.ts';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import type { JobView } from '../shared/queue/inspector.ts';

let redis: RedisProcess;
let core: Core;
let tmp: string;
const procs: ConveyorProcess[] = [];

before(async () => {
  ({ redis, core } = await redisAndCore());
  tmp = mkdtempSync(join(tmpdir(), 'conveyor-bad-handlers-'));
});
after(async () => {
  await Promise.all(procs.map((p) => (p.exitCode() === undefined ? p.stop() : undefined)));
  await closeRedisAndCore(redis, core);
  rmSync(tmp, { recursive: true, force: true });
});

function spawnWorker(env: Record<string, string>): ConveyorProcess {
  const p = spawnConveyor('worker', { REDIS_URL: redis.url, ...env });
  procs.push(p);
  return p;
}

async function completed(queue: string, id: string): Promise<JobView> {
  return waitFor(`job ${id} completed`, async () => {
    const j = await core.inspector.getJob(queue, id);
    if (j?.state === 'dead') throw new Error(`job ${id} died: ${j.failedReason}`);
    return j?.state === 'completed' ? j : undefined;
  });
}

test('HANDLERS=examples/handlers runs the example jobs beside the built-ins; an unknown name is dead-lettered with HANDLER_NOT_FOUND', async () => {
  const q = uniqueQueue('examples');
  const worker = spawnWorker({ QUEUES: q, HANDLERS: 'examples/handlers' });
  const loaded = await worker.waitForLine('"handlers loaded"', (j) => j.msg === 'handlers loaded');
  assert.deepEqual(loaded.handlers, ['charge-card', 'fail', 'http', 'noop', 'refund-payment', 'send-welcome-email', 'sleep']);
  await worker.waitForLine('"worker started"', (j) => j.msg === 'worker started');

  const welcome = await core.producer.enqueue(q, { name: 'send-welcome-email', data: { to: 'ada@example.com', name: 'Ada' } });
  const charge = await core.producer.enqueue(q, { name: 'charge-card', data: { customerId: 'c1', amountCents: 1299 } });
  const noop = await core.producer.enqueue(q, { name: 'noop' });
  const unknown = await core.producer.enqueue(q, { name: 'resize-image', data: { w: 1 }, opts: { attempts: 2, backoff: { type: 'fixed', delay: 50 } } });

  const w = await completed(q, welcome.id);
  assert.deepEqual({ ...(w.returnValue as object), messageId: undefined }, { sent: true, to: 'ada@example.com', subject: 'Welcome, Ada!', messageId: undefined });
  const c = await completed(q, charge.id);
  assert.deepEqual(c.returnValue, { chargeId: `ch_${charge.id}`, customerId: 'c1', amountCents: 1299, currency: 'EUR' });
  await completed(q, noop.id);

  const dead = await waitFor('dead letter', () => core.inspector.deadLetters.get(q, unknown.id));
  assert.match(dead.failedReason, /^HANDLER_NOT_FOUND: no handler for job name "resize-image"/);
  assert.equal(dead.attemptsMade, 2, 'retried like any failure, so a later deploy can take it');
  assert.deepEqual(dead.data, { w: 1 });
});

async function refusesToStart(handlers: string, ...says: RegExp[]): Promise<void> {
  const p = spawnWorker({ QUEUES: uniqueQueue('bad'), HANDLERS: handlers });
  let stderr = '';
  p.proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await p.exited;
  assert.notEqual(code, 0);
  assert.match(stderr, /^conveyor worker: INVALID_HANDLER: /);
  for (const s of says) assert.match(stderr, s);
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
  assert.ok(!p.lines.some((l) => l.json?.msg === 'worker started'));
}

test('a HANDLERS path that does not exist stops the start with INVALID_HANDLER', async () => {
  await refusesToStart('examples/no-such-handlers', /HANDLERS=examples\/no-such-handlers: no such file or folder/, /relative paths start at the working directory/);
});

test('a HANDLERS module exporting junk stops the start with INVALID_HANDLER naming the file and the shapes', async () => {
  const file = join(tmp, 'junk.mjs');
  writeFileSync(file, 'export default "send-email";\n');
  await refusesToStart(file, /junk\.mjs: it has a string as its default export/, /export a default function/);
});
