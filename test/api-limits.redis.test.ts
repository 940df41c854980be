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

let redis: RedisProcess;
let api: Api;

before(async () => {
  redis = await startRedis();
  api = await startApi(redis.url, { API_TOKENS: `a:${A}:enqueue+read,b:${B}:enqueue+read`, BULK_MAX: '5', MAX_JSON_DEPTH: '8', API_RATE_LIMIT: '20' });
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

test('API_RATE_LIMIT: past the limit a token gets 429 RATE_LIMITED with Retry-After; another token is not slowed', async () => {
  // Let both buckets refill after the tests above.
  await new Promise((r) => setTimeout(r, 1100));
  const answers = await Promise.all(Array.from({ length: 40 }, () => api.call('GET', '/v1/queues', { token: A })));
  const ok = answers.filter((a) => a.status === 200).length;
  const limited = answers.filter((a) => a.status === 429);
  assert.ok(ok >= 20 && ok <= 22, `${ok} answered within the limit of 20/s`);
  assert.ok(limited.length >= 18, `${limited.length} limited`);
  for (const l of limited) {
    assert.equal(l.json.error.code, 'RATE_LIMITED');
    assert.match(l.json.error.message, /API_RATE_LIMIT=20/);
    assert.ok(Number(l.headers.get('retry-after')) >= 1, 'Retry-After in seconds');
  }
  assert.equal((await api.call('GET', '/v1/queues', { token: B })).status, 200, 'the other token has its own bucket');
  assert.equal((await api.call('GET', '/healthz')).status, 200, 'probes are not limited');
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await api.call('GET', '/v1/queues', { token: A })).status, 200, 'the bucket refills');
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
    assert.ok(took >= 250 && took < 3000, `answered after ${took} ms`);
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
