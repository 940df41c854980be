import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type ErrorRequestHandler } from 'express';
import { startRedis, type RedisProcess } from '../../shared/testing/redis-process.ts';
import { openCore, testConfig, uniqueQueue, type Core } from '../../shared/testing/fixtures.ts';
import { ERROR_CODES, isConveyorError } from '../../shared/errors.ts';
import { Schedules } from '../../shared/queue/schedules.ts';
import { parseApiTokens } from '../../shared/config/config.ts';
import { authenticate } from '../auth.ts';
import { schedulesRouter } from './schedules.ts';

let redis: RedisProcess;
let core: Core;
let server: Server;
let base: string;

const ADMIN = 'admin-token-123';
const READER = 'reader-token-123';

// A minimal stand-in for the app's error middleware: ConveyorError → {"error": {code, message}} with its status.
const errors: ErrorRequestHandler = (err, _req, res, _next) => {
  if (isConveyorError(err)) res.status(ERROR_CODES[err.code].status).json({ error: { code: err.code, message: err.message } });
  else if ((err as { type?: string }).type === 'entity.parse.failed') res.status(400).json({ error: { code: 'INVALID_JSON', message: String(err) } });
  else res.status(500).json({ error: { code: 'INTERNAL', message: String(err) } });
};

before(async () => {
  redis = await startRedis();
  const config = testConfig(redis.url, { MAX_PAYLOAD_BYTES: '2000' });
  core = await openCore(config);
  const schedules = new Schedules(core.queues, core.producer, { maxPayloadBytes: config.maxPayloadBytes });
  const app = express();
  app.use('/v1', authenticate(parseApiTokens(`admin:${ADMIN}:admin+read+enqueue,reader:${READER}:read`)));
  app.use('/v1/schedules', schedulesRouter({ schedules, config }));
  app.use(errors);
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/schedules`;
});
after(async () => {
  await new Promise((r) => server.close(r));
  await core.close();
  await redis.stop();
});

async function call(method: string, path: string, body?: unknown, token = ADMIN): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

const uniqueId = () => `api-${randomUUID().slice(0, 8)}`;

test('PUT creates (201) then replaces (200); GET one and the list show it; DELETE removes it (then 404)', async () => {
  const q = uniqueQueue();
  const id = uniqueId();
  const created = await call('PUT', `/${id}`, { queue: q, name: 'noop', cron: '*/5 * * * *', tz: 'Europe/Paris', data: { a: 1 }, opts: { attempts: 2 } });
  assert.equal(created.status, 201);
  assert.equal(created.headers.get('location'), `/v1/schedules/${id}`);
  assert.equal(created.body.id, id);
  assert.equal(created.body.tz, 'Europe/Paris');
  assert.equal(created.body.nextRuns.length, 5);
  assert.equal(created.body.managedBy, 'api');

  const replaced = await call('PUT', `/${id}`, { queue: q, name: 'noop', cron: '*/10 * * * *' });
  assert.equal(replaced.status, 200);
  assert.equal(replaced.body.cron, '*/10 * * * *');
  assert.equal(replaced.body.tz, 'UTC');

  const one = await call('GET', `/${id}`, undefined, READER);
  assert.equal(one.status, 200);
  assert.deepEqual(one.body, replaced.body);
  const list = await call('GET', `?queue=${q}`, undefined, READER);
  assert.deepEqual(list.body, { schedules: [replaced.body] });

  const del = await call('DELETE', `/${id}`);
  assert.deepEqual([del.status, del.body], [200, { id, deleted: true }]);
  assert.equal((await call('GET', `/${id}`)).body.error.code, 'SCHEDULE_NOT_FOUND');
  assert.equal((await call('GET', `/${id}`)).status, 404);
  assert.equal((await call('DELETE', `/${id}`)).status, 404);
});

test('an invalid cron or timezone is 422 INVALID_CRON naming the field; other bad input is 400; nothing is stored', async () => {
  const q = uniqueQueue();
  const id = uniqueId();
  const keysBefore = await redis.client().dbsize();
  const cron = await call('PUT', `/${id}`, { queue: q, name: 'noop', cron: '99 * * * *' });
  assert.equal(cron.status, 422);
  assert.equal(cron.body.error.code, 'INVALID_CRON');
  assert.match(cron.body.error.message, /^cron: /);
  const tz = await call('PUT', `/${id}`, { queue: q, name: 'noop', cron: '* * * * *', tz: 'Mars/Base' });
  assert.deepEqual([tz.status, tz.body.error.code, tz.body.error.message.split(' (')[0]], [422, 'INVALID_CRON', 'tz: unknown timezone "Mars/Base"']);
  assert.deepEqual([(await call('PUT', `/${id}`, { queue: q, name: 'noop', cron: '* * * * *', every: 1 })).body.error.code], ['INVALID_REQUEST']);
  assert.equal((await call('PUT', `/${id}`, { queue: 'no spaces', name: 'noop', cron: '* * * * *' })).body.error.code, 'INVALID_QUEUE_NAME');
  assert.equal((await call('PUT', `/${id}`, { queue: q, name: '', cron: '* * * * *' })).body.error.code, 'INVALID_JOB_NAME');
  assert.equal((await call('PUT', `/${id}`, { queue: q, name: 'noop', cron: '* * * * *', data: 'x'.repeat(5000) })).status, 413);
  assert.equal((await call('PUT', `/${id}`, [])).status, 400);
  assert.equal((await call('PUT', '/bad:id', { queue: q, name: 'noop', cron: '* * * * *' })).status, 400);
  assert.equal(await redis.client().dbsize(), keysBefore);
});

test('pause, resume and run: pause empties nextRuns, resume restores them, run enqueues one job (201)', async () => {
  const q = uniqueQueue();
  const id = uniqueId();
  await call('PUT', `/${id}`, { queue: q, name: 'report', cron: '0 0 1 1 *', data: { n: 1 } });
  const paused = await call('POST', `/${id}/pause`);
  assert.deepEqual([paused.status, paused.body.paused, paused.body.nextRuns], [200, true, []]);
  const resumed = await call('POST', `/${id}/resume`);
  assert.deepEqual([resumed.status, resumed.body.paused, resumed.body.nextRuns.length], [200, false, 5]);
  const run = await call('POST', `/${id}/run`);
  assert.equal(run.status, 201);
  assert.deepEqual({ ...run.body, id: undefined }, { id: undefined, queue: q, name: 'report', schedule: id });
  const job = await core.inspector.getJob(q, run.body.id);
  assert.deepEqual([job?.state, job?.data], ['waiting', { n: 1 }]);
  assert.equal((await call('POST', `/${uniqueId()}/run`)).status, 404);
  await call('DELETE', `/${id}`);
});

test('scopes: a read token may list but not change; wrong methods are 405', async () => {
  const id = uniqueId();
  assert.equal((await call('GET', '', undefined, READER)).status, 200);
  assert.equal((await call('PUT', `/${id}`, { queue: 'q', name: 'noop', cron: '* * * * *' }, READER)).status, 403);
  assert.equal((await call('POST', `/${id}/run`, undefined, READER)).status, 403);
  const m = await call('POST', `/${id}`, {});
  assert.equal(m.status, 405);
  assert.equal(m.headers.get('allow'), 'GET, PUT, DELETE');
});

test('a schedule from the SCHEDULES file answers PUT and DELETE with 409 SCHEDULE_MANAGED_BY_CONFIG', async () => {
  const q = uniqueQueue();
  const id = uniqueId();
  const schedules = new Schedules(core.queues, core.producer);
  await schedules.put(id, { queue: q, name: 'noop', cron: '0 0 1 1 *' }, { managedBy: 'config' });
  const put = await call('PUT', `/${id}`, { queue: q, name: 'noop', cron: '* * * * *' });
  assert.equal(put.status, 409);
  assert.equal(put.body.error.code, 'SCHEDULE_MANAGED_BY_CONFIG');
  assert.match(put.body.error.message, /SCHEDULES file/);
  assert.equal((await call('DELETE', `/${id}`)).status, 409);
  assert.equal((await call('GET', `/${id}`)).body.managedBy, 'config');
  assert.equal((await call('POST', `/${id}/pause`)).status, 200, 'pause is allowed on config schedules');
  await schedules.remove(id, { managedBy: 'config' });
});
