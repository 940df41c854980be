import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { startApi, type Api } from './api-app.ts';

let redis: RedisProcess;
let api: Api;
const q = uniqueQueue();

const FULL = 'full-access-token-1';
const READER = 'reader-token-12345';
const PUSHER = 'pusher-token-12345';
const OPS = 'ops-token-1234567';

before(async () => {
  redis = await startRedis();
  api = await startApi(redis.url, {
    API_TOKENS: `${FULL}, reader:${READER}:read, pusher:${PUSHER}:enqueue, ops:${OPS}:admin+read`,
  });
});
after(async () => {
  await api.close();
  await redis.stop();
});

const enqueue = (token?: string, headers?: Record<string, string>) => api.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'x' }, token, headers });

function assertUnauthorized(r: Awaited<ReturnType<Api['call']>>, why: string): void {
  assert.equal(r.status, 401, why);
  assert.equal(r.json.error.code, 'UNAUTHORIZED', why);
  assert.equal(r.headers.get('www-authenticate'), 'Bearer', why);
}

test('no token, a wrong token or a malformed header is 401 with WWW-Authenticate: Bearer, and enqueues nothing', async () => {
  assertUnauthorized(await enqueue(), 'no token');
  assertUnauthorized(await enqueue('wrong-token-123456'), 'wrong token');
  assertUnauthorized(await enqueue(FULL.slice(0, -1)), 'a prefix of a real token');
  assertUnauthorized(await enqueue(`${FULL}x`), 'a real token plus a character');
  assertUnauthorized(await enqueue(undefined, { authorization: `Basic ${Buffer.from(`u:${FULL}`).toString('base64')}` }), 'Basic scheme');
  assertUnauthorized(await enqueue(undefined, { authorization: FULL }), 'token without a scheme');
  assertUnauthorized(await enqueue(undefined, { authorization: 'Bearer' }), 'scheme without a token');
  assertUnauthorized(await api.call('GET', '/v1/queues'), 'GET without a token');
  // the token is checked before the body is read
  assertUnauthorized(await api.call('POST', `/v1/queues/${q}/jobs`, { raw: '{bad', headers: { 'content-type': 'application/json' } }), 'bad JSON, no token');
  // unknown /v1 paths do not reveal themselves to strangers
  assertUnauthorized(await api.call('GET', '/v1/secret-route'), 'unknown /v1 route');
  assert.equal((await api.call('GET', '/v1/secret-route', { token: FULL })).status, 404);
  // this test runs first: the queue must not exist yet
  assert.equal(await redis.client().dbsize(), 0, 'nothing was written to Redis');
});

test('a bare token has every scope', async () => {
  const r = await enqueue(FULL);
  assert.equal(r.status, 201);
  assert.equal((await api.call('GET', `/v1/queues/${q}/jobs/${r.json.id}`, { token: FULL })).status, 200);
  assert.equal((await api.call('POST', `/v1/queues/${q}/pause`, { token: FULL })).status, 200);
  assert.equal((await api.call('POST', `/v1/queues/${q}/resume`, { token: FULL })).status, 200);
  // the scheme name is case-insensitive (RFC 7235)
  assert.equal((await enqueue(undefined, { authorization: `bearer ${FULL}` })).status, 201);
});

test('a read-only token (name:token:read) reads but gets 403 FORBIDDEN naming the scope on enqueue and admin routes', async () => {
  const created = await enqueue(PUSHER);
  assert.equal(created.status, 201, 'an enqueue-only token enqueues');
  const forbidden = await enqueue(READER);
  assert.equal(forbidden.status, 403);
  assert.equal(forbidden.json.error.code, 'FORBIDDEN');
  assert.match(forbidden.json.error.message, /"enqueue"/);
  assert.match(forbidden.json.error.message, /"reader"/);
  const bulk = await api.call('POST', `/v1/queues/${q}/jobs/bulk`, { body: { jobs: [{ name: 'x' }] }, token: READER });
  assert.equal(bulk.status, 403);
  assert.equal((await api.call('GET', '/v1/queues', { token: READER })).status, 200);
  assert.equal((await api.call('GET', `/v1/queues/${q}/jobs/${created.json.id}`, { token: READER })).status, 200);
  assert.equal((await api.call('GET', `/v1/queues/${q}/jobs?state=waiting`, { token: READER })).status, 200);
  assert.equal((await api.call('GET', `/v1/queues/${q}/dead`, { token: READER })).status, 200);
  const pause = await api.call('POST', `/v1/queues/${q}/pause`, { token: READER });
  assert.equal(pause.status, 403);
  assert.match(pause.json.error.message, /"admin"/);
  assert.equal((await api.call('DELETE', `/v1/queues/${q}/dead`, { token: READER })).status, 403);
  assert.equal((await api.call('GET', '/v1/schedules', { token: READER })).status, 200);
  assert.equal((await api.call('PUT', '/v1/schedules/nightly', { body: { queue: q, name: 'x', cron: '0 3 * * *' }, token: READER })).status, 403);
  assert.equal((await api.call('POST', `/v1/queues/${q}/dead/retry`, { token: READER })).status, 403);
});

test('scopes combine with "+": admin+read pauses and reads but cannot enqueue; enqueue-only cannot read', async () => {
  assert.equal((await api.call('POST', `/v1/queues/${q}/pause`, { token: OPS })).status, 200);
  assert.equal((await api.call('POST', `/v1/queues/${q}/resume`, { token: OPS })).status, 200);
  assert.equal((await api.call('POST', `/v1/queues/${q}/dead/retry`, { token: OPS })).status, 200);
  assert.equal((await api.call('GET', '/v1/queues', { token: OPS })).status, 200);
  assert.equal((await enqueue(OPS)).status, 403);
  const read = await api.call('GET', '/v1/queues', { token: PUSHER });
  assert.equal(read.status, 403);
  assert.match(read.json.error.message, /"read"/);
  assert.equal((await api.call('POST', `/v1/queues/${q}/pause`, { token: PUSHER })).status, 403);
});

test('/healthz, /readyz, /metrics and /v1/openapi.json need no token', async () => {
  for (const path of ['/healthz', '/readyz', '/metrics', '/v1/openapi.json']) {
    assert.equal((await api.call('GET', path)).status, 200, path);
  }
});

test('with no API_TOKENS every request is allowed', async () => {
  const open = await startApi(redis.url);
  try {
    const r = await open.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'x' } });
    assert.equal(r.status, 201);
    assert.equal((await open.call('POST', `/v1/queues/${q}/pause`)).status, 200);
    assert.equal((await open.call('POST', `/v1/queues/${q}/resume`)).status, 200);
  } finally {
    await open.close();
  }
});
