/**
 * Limits of the API, each a 4xx (or a 503 for time) naming the limit:
 * BULK_MAX jobs per bulk, MAX_JSON_DEPTH, API_RATE_LIMIT per token (429 with
 * Retry-After), REQUEST_TIMEOUT_MS (503 REQUEST_TIMEOUT with Retry-After
 * while Redis is frozen, never a hang).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { startApi, type Api } from './api-app.ts';

const A = 'limits-token-a-123456';
const B = 'limits-token-b-123456';
/** Used by one test only, so its bucket is full when that test starts. */
const C = 'limits-token-c-123456';

let redis: RedisProcess;
let api: Api;

before(async () => {
  redis = await startRedis();
  api = await startApi(redis.url, { API_TOKENS: `a:${A}:enqueue+read,b:${B}:enqueue+read,c:${C}:read`, BULK_MAX: '5', MAX_JSON_DEPTH: '8', API_RATE_LIMIT: '20' });
});
after(async () => {
  await api?.close();
  await redis?.stop();
});

test('BULK_MAX: a bulk over the limit is 400 naming it; at the limit it is accepted', async () => {
  const q = uniqueQueue();
  const over = await api.call('POST', `/v1/queues/${q}/jobs/bulk`, { token: A, body: { jobs: Array.from({ length: 6 }, () => ({ name: 'noop' })) } });
  assert.equal(over.status, 400);
  assert.equal(over.json.error.code, 'INVALID_REQUEST');
  assert.match(over.json.error.message, /6 jobs in one bulk; the limit is 5/);
  const at = await api.call('POST', `/v1/queues/${q}/jobs/bulk`, { token: A, body: { jobs: Array.from({ length: 5 }, () => ({ name: 'noop' })) } });
  assert.equal(at.status, 201, at.text);
  assert.equal(at.json.ids.length, 5);
});

test('MAX_JSON_DEPTH: a body nested deeper is 400 naming the limit; at the limit it is accepted', async () => {
  const q = uniqueQueue();
  // {"name":..,"data":[[[...]]]}: the body object is level 1, so data may nest 7 levels
  const body = (levels: number) => `{"name":"noop","data":${'['.repeat(levels)}${']'.repeat(levels)}}`;
  const deep = await api.call('POST', `/v1/queues/${q}/jobs`, { token: B, raw: body(8), headers: { 'content-type': 'application/json' } });
  assert.equal(deep.status, 400);
  assert.match(deep.json.error.message, /MAX_JSON_DEPTH=8/);
  const ok = await api.call('POST', `/v1/queues/${q}/jobs`, { token: B, raw: body(7), headers: { 'content-type': 'application/json' } });
  assert.equal(ok.status, 201, ok.text);
});

test('API_RATE_LIMIT on the real API (frozen clock): exactly the bucket passes, the rest is a 429 in the error shape; probes and other tokens are not limited', async () => {
  // The whole server (its token check, limiter, routes and error handler), with the limiter's clock
  // frozen: the counts depend on what the clock says, not on how long 40 requests take.
  let now = 0;
  const frozen = await startApi(redis.url, { API_TOKENS: `b:${B}:enqueue+read,c:${C}:read`, API_RATE_LIMIT: '20' }, { now: () => now });
  try {
    const answers = await Promise.all(Array.from({ length: 40 }, () => frozen.call('GET', '/v1/queues', { token: C })));
    assert.equal(answers.filter((a) => a.status === 200).length, 20, 'a full bucket: one second of requests');
    const limited = answers.filter((a) => a.status !== 200);
    assert.equal(limited.length, 20);
    for (const l of limited) {
      assert.equal(l.status, 429, l.text);
      assert.equal(l.json.error.code, 'RATE_LIMITED');
      assert.match(l.json.error.message, /API_RATE_LIMIT=20/);
      assert.equal(l.headers.get('retry-after'), '1', 'Retry-After in whole seconds');
    }
    assert.equal((await frozen.call('GET', '/v1/queues', { token: B })).status, 200, 'the other token has its own bucket');
    const probes = await Promise.all(Array.from({ length: 30 }, () => frozen.call('GET', '/healthz', { token: C })));
    assert.deepEqual([...new Set(probes.map((p) => p.status))], [200], 'probes are not limited');
    now += 500;
    const refilled = await Promise.all(Array.from({ length: 15 }, () => frozen.call('GET', '/v1/queues', { token: C })));
    assert.equal(refilled.filter((a) => a.status === 200).length, 10, 'half a second refills half the bucket');
  } finally {
    await frozen.close();
  }
});

test('REQUEST_TIMEOUT_MS: while Redis is frozen a request answers 503 REQUEST_TIMEOUT with Retry-After, on time', async () => {
  const r2 = await startRedis();
  const slow = await startApi(r2.url, { REQUEST_TIMEOUT_MS: '300', REDIS_COMMAND_TIMEOUT_MS: '20000' });
  try {
    const q = uniqueQueue();
    assert.equal((await slow.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'noop' } })).status, 201);
    r2.kill('SIGSTOP');
    const started = Date.now();
    const r = await slow.call('GET', `/v1/queues/${q}`);
    const took = Date.now() - started;
    r2.kill('SIGCONT');
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.error.code, 'REQUEST_TIMEOUT');
    assert.match(r.json.error.message, /REQUEST_TIMEOUT_MS=300/);
    assert.equal(r.headers.get('retry-after'), '1');
    // Not before the timeout (so it is the timeout that answered), and a generous liveness bound
    // (never a hang: without REQUEST_TIMEOUT_MS it would wait REDIS_COMMAND_TIMEOUT_MS=20000).
    assert.ok(took >= 250 && took < 10_000, `answered after ${took} ms`);
    // Once Redis answers again, so does the API, and the late answer of the timed-out request went nowhere.
    const after = await slow.call('GET', `/v1/queues/${q}`);
    assert.equal(after.status, 200, after.text);
    assert.deepEqual(slow.problems.filter((p) => p.level >= 50), [], 'no error logged');
  } finally {
    r2.kill('SIGCONT');
    await slow.close();
    await r2.stop();
  }
});
