/**
 * The batches over HTTP (createApp on a spawned Redis, an in-process worker):
 * create, read while it runs and once done, an open batch (add, seal, 409
 * after the seal), bad input (400, 404, 409, 413/415, 422, naming the
 * problem, nothing created) and token scopes per queue.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { createWorker, type ConveyorWorker } from '../worker/index.ts';
import { batchKeys } from '../shared/batches/keys.ts';
import { coreOf } from '../shared/conveyor.ts';
import { startApi, type Api } from './api-app.ts';

const FULL = 'batch-full-token-123456';
const LIMITED = 'batch-limited-token-123456';
let redis: RedisProcess;
let api: Api;
const workers: ConveyorWorker[] = [];

before(async () => {
  redis = await startRedis();
  api = await startApi(redis.url, {
    API_TOKENS: `full:${FULL}:enqueue+read+admin,limited:${LIMITED}:enqueue@allowed-*+read@allowed-*`,
    HANDLERS: join(import.meta.dirname, 'fixtures', 'http-client-jobs.ts'),
  });
});
after(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await api?.close();
  await redis?.stop();
});

const call = (method: string, path: string, body?: unknown, token = FULL) => api.call(method, path, { token, ...(body !== undefined ? { body } : {}) });

async function worker(queue: string): Promise<void> {
  const w = createWorker({ conveyor: api.conveyor, queues: [queue], metrics: false, handlers: { 'send-welcome': () => 'sent' } });
  workers.push(w);
  await w.start();
}

test('POST /v1/batches: 201 with the jobs\' ids and a Location; GET shows it run to the end and its callbacks', async () => {
  const q = uniqueQueue('api-batch');
  const res = await call('POST', '/v1/batches', {
    jobs: [{ queue: q, name: 'send-welcome', data: { userId: 1 } }, { queue: q, name: 'send-welcome', data: { userId: 2 } }, { queue: q, name: 'noop' }],
    onSuccess: { queue: q, name: 'noop' },
    onComplete: { queue: q, name: 'noop', opts: { priority: 1 } },
    description: 'three',
  });
  assert.equal(res.status, 201, res.text);
  assert.equal(res.json.total, 3);
  assert.equal(res.json.sealed, true);
  assert.equal(res.json.ids.length, 3);
  assert.equal(res.headers.get('location'), `/v1/batches/${res.json.id}`);
  const running = await call('GET', `/v1/batches/${res.json.id}`);
  assert.equal(running.status, 200);
  assert.deepEqual([running.json.state, running.json.pending, running.json.description, running.json.queues], ['running', 3, 'three', [q]]);
  await worker(q);
  const done = await waitFor('succeeded, callbacks enqueued', async () => {
    const b = (await call('GET', `/v1/batches/${res.json.id}`)).json;
    return b.state === 'succeeded' && b.callbacks.onSuccess.enqueuedAt && b.callbacks.onComplete.enqueuedAt ? b : undefined;
  });
  assert.deepEqual([done.total, done.succeeded, done.dead, done.progress], [3, 3, 0, 1]);
  assert.equal(done.callbacks.onSuccess.jobId, `batch-${res.json.id}-success`);
  const cb = await call('GET', `/v1/queues/${q}/jobs/${done.callbacks.onComplete.jobId}`);
  assert.equal(cb.json.opts.priority, 1);
  assert.equal(cb.json.data.event, 'complete');
});

test('an open batch: add jobs, seal, and an add after the seal is 409 BATCH_SEALED', async () => {
  const q = uniqueQueue('api-open');
  const b = (await call('POST', '/v1/batches', { jobs: [{ queue: q, name: 'noop' }], open: true })).json;
  assert.equal(b.sealed, false);
  const added = await call('POST', `/v1/batches/${b.id}/jobs`, { jobs: [{ queue: q, name: 'noop' }, { queue: q, name: 'noop' }] });
  assert.equal(added.status, 201, added.text);
  assert.deepEqual([added.json.total, added.json.ids.length], [3, 2]);
  const sealed = await call('POST', `/v1/batches/${b.id}/seal`);
  assert.equal(sealed.status, 200);
  assert.deepEqual([sealed.json.sealed, sealed.json.state, sealed.json.total], [true, 'running', 3]);
  const late = await call('POST', `/v1/batches/${b.id}/jobs`, { jobs: [{ queue: q, name: 'noop' }] });
  assert.equal(late.status, 409);
  assert.equal(late.json.error.code, 'BATCH_SEALED');
  assert.equal((await call('GET', `/v1/batches/${b.id}`)).json.total, 3);
});

test('bad input: 4xx naming the problem, and nothing created', async () => {
  const q = uniqueQueue('api-bad');
  const indexed = () => coreOf(api.conveyor).conn.zcard(batchKeys.index);
  const before = await indexed();
  const expect = async (body: unknown, status: number, code: string, message: RegExp) => {
    const r = await call('POST', '/v1/batches', body);
    assert.equal(r.status, status, r.text);
    assert.equal(r.json.error.code, code);
    assert.match(r.json.error.message, message);
  };
  await expect({ jobs: [] }, 400, 'INVALID_REQUEST', /^jobs: a batch needs at least one job/);
  await expect({ jobs: Array.from({ length: 10_001 }, () => ({ queue: q, name: 'noop' })) }, 400, 'BATCH_TOO_LARGE', /10001 jobs in one call/);
  await expect({ jobs: [{ queue: q, name: 'noop' }], onSuccess: { queue: q, name: 'nobody-knows' } }, 422, 'UNKNOWN_JOB_NAME', /^onSuccess\.name: no job "nobody-knows"/);
  await expect({ jobs: [{ queue: q, name: 'noop' }], onSuccess: { queue: q, name: 'send-welcome' } }, 422, 'PAYLOAD_INVALID', /^onSuccess: the schema of job "send-welcome" refuses/);
  await expect({ jobs: [{ queue: q, name: 'noop' }, { queue: q, name: 'send-welcome', data: { userId: 'one' } }] }, 422, 'PAYLOAD_INVALID', /^jobs\.1\.data\.userId/);
  await expect({ jobs: [{ queue: q, name: 'noop', opts: { throttle: { id: 't', ms: 10 } } }] }, 400, 'INVALID_REQUEST', /^jobs\.0\.opts\.throttle/);
  await expect({ jobs: [{ queue: q, name: 'noop' }], parent: 'no-such' }, 404, 'BATCH_NOT_FOUND', /^parent: no batch "no-such"/);
  assert.deepEqual(await indexed(), before, 'no batch was created');
  assert.equal((await call('GET', `/v1/queues/${q}`)).status, 404, 'not even its queue');

  const missing = await call('GET', '/v1/batches/no-such-batch');
  assert.deepEqual([missing.status, missing.json.error.code], [404, 'BATCH_NOT_FOUND']);
  const badId = await call('GET', '/v1/batches/a%3Ab');
  assert.deepEqual([badId.status, badId.json.error.code], [400, 'INVALID_REQUEST']);
  const sealMissing = await call('POST', '/v1/batches/no-such-batch/seal');
  assert.equal(sealMissing.status, 404);
  const addMissing = await call('POST', '/v1/batches/no-such-batch/jobs', { jobs: [{ queue: q, name: 'noop' }] });
  assert.equal(addMissing.status, 404);
  const addBad = await call('POST', '/v1/batches/no-such-batch/jobs', { jobs: [], extra: 1 });
  assert.deepEqual([addBad.status, addBad.json.error.code], [400, 'INVALID_REQUEST']);
  const notJson = await api.call('POST', '/v1/batches', { raw: 'jobs', token: FULL, headers: { 'content-type': 'text/plain' } });
  assert.equal(notJson.status, 415);
  const method = await call('DELETE', '/v1/batches/x');
  assert.equal(method.status, 405);
});

test('scopes: a token limited to some queues may batch only on those, and read only those batches', async () => {
  const ok = uniqueQueue('allowed');
  const other = uniqueQueue('other');
  const mine = await call('POST', '/v1/batches', { jobs: [{ queue: ok, name: 'noop' }], onComplete: { queue: ok, name: 'noop' } }, LIMITED);
  assert.equal(mine.status, 201, mine.text);
  assert.equal((await call('GET', `/v1/batches/${mine.json.id}`, undefined, LIMITED)).status, 200);
  const theirs = await call('POST', '/v1/batches', { jobs: [{ queue: ok, name: 'noop' }, { queue: other, name: 'noop' }] }, LIMITED);
  assert.equal(theirs.status, 403);
  const cbElsewhere = await call('POST', '/v1/batches', { jobs: [{ queue: ok, name: 'noop' }], onSuccess: { queue: other, name: 'noop' } }, LIMITED);
  assert.equal(cbElsewhere.status, 403);
  const foreign = (await call('POST', '/v1/batches', { jobs: [{ queue: other, name: 'noop' }] })).json;
  assert.equal((await call('GET', `/v1/batches/${foreign.id}`, undefined, LIMITED)).status, 403);
  assert.equal((await call('POST', `/v1/batches/${foreign.id}/seal`, undefined, LIMITED)).status, 403);
});
