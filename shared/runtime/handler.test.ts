/** runJob's AbortSignal is made on first use; these pin down that it still aborts as before. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Job } from 'bullmq';
import { runJob, type HandlerContext } from './handler.ts';
import { silentLogger } from '../log.ts';
import { waitFor } from '../testing/wait-for.ts';

const job = (opts: Record<string, unknown> = {}): Job => ({ id: '7', name: 'h', data: { x: 1 }, opts: { attempts: 3, ...opts }, attemptsMade: 1 }) as unknown as Job;

test('the context carries the job fields and a live signal', async () => {
  let seen: HandlerContext | undefined;
  const r = await runJob('q', job(), { h: (data, ctx) => ((seen = ctx), data) }, silentLogger, new AbortController().signal);
  assert.deepEqual(r, { x: 1 });
  assert.equal(seen?.id, '7');
  assert.equal(seen?.queue, 'q');
  assert.equal(seen?.attempt, 2);
  assert.equal(seen?.maxAttempts, 3);
  assert.equal(seen?.signal.aborted, false);
});

test('a stop while the handler runs aborts a signal it read before', async () => {
  const stop = new AbortController();
  const reason = new Error('grace over');
  const p = runJob('q', job(), {
    h: (_d, ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
  }, silentLogger, stop.signal);
  setImmediate(() => stop.abort(reason));
  await assert.rejects(p, (e) => e === reason);
});

test('a signal first read after the stop is already aborted with the stop reason', async () => {
  const stop = new AbortController();
  stop.abort(new Error('stopping'));
  const r = await runJob('q', job(), { h: (_d, ctx) => [ctx.signal.aborted, (ctx.signal.reason as Error).message] }, silentLogger, stop.signal);
  assert.deepEqual(r, [true, 'stopping']);
});

test('a signal first read after the timeout is already aborted with JOB_TIMEOUT', async () => {
  let late: AbortSignal | undefined;
  const p = runJob('q', job({ timeout: 20 }), {
    h: (_d, ctx) => new Promise((resolve) => setTimeout(() => resolve((late = ctx.signal)), 60)),
  }, silentLogger);
  await assert.rejects(p, /JOB_TIMEOUT/);
  const signal = await waitFor('the handler to read its signal', () => late);
  assert.equal(signal.aborted, true);
  assert.match(String((signal.reason as Error).message), /JOB_TIMEOUT/);
});

test('the stop signal keeps no listener once the job is done', async () => {
  const stop = new AbortController();
  let listeners = 0;
  const add = stop.signal.addEventListener.bind(stop.signal);
  const remove = stop.signal.removeEventListener.bind(stop.signal);
  stop.signal.addEventListener = ((...a: Parameters<typeof add>) => (listeners++, add(...a))) as typeof add;
  stop.signal.removeEventListener = ((...a: Parameters<typeof remove>) => (listeners--, remove(...a))) as typeof remove;
  await runJob('q', job(), { h: (_d, ctx) => ctx.signal.aborted }, silentLogger, stop.signal);
  await runJob('q', job(), { h: () => null }, silentLogger, stop.signal);
  assert.equal(listeners, 0);
});
