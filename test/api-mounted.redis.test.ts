/**
 * apiRouter({ conveyor }) mounted in an app's own express app under a prefix:
 * the routes answer there, Location headers and the OpenAPI servers entry
 * carry the prefix, the document lists the known jobs' payload schemas, the
 * app's own routes (before and after the router) are untouched, and
 * `authenticate` chooses between the Conveyor's tokens and the app's auth.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { z } from 'zod';
import { Conveyor, defineJob } from '../shared/index.ts';
import { apiRouter } from '../server/index.ts';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';

const queue = uniqueQueue('mounted');
const invoice = defineJob({ name: 'send-invoice', queue, schema: z.object({ invoiceId: z.string() }), description: 'Sends an invoice' });
const TOKEN = 'mounted-api-token-1234';

let redis: RedisProcess;
let conveyor: Conveyor;
let server: Server;
let base = '';

before(async () => {
  redis = await startRedis();
  conveyor = await Conveyor.connect({ redisUrl: redis.url, jobs: [invoice], apiTokens: `ci:${TOKEN}:enqueue+read+admin`, logLevel: 'silent' });
  const app = express();
  app.get('/hello', (_req, res) => res.json({ app: 'before' }));
  // The app's own auth in front of one mount; the Conveyor's tokens on the other.
  const appAuth: express.RequestHandler = (req, res, next) => (req.headers['x-app-user'] ? next() : res.status(401).json({ app: 'sign in' }));
  app.use('/internal/jobs', appAuth, apiRouter({ conveyor, authenticate: false }));
  app.use('/jobs-api', apiRouter({ conveyor }));
  app.get('/after', (_req, res) => res.json({ app: 'after' }));
  await new Promise<void>((r) => (server = app.listen(0, '127.0.0.1', () => r())));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((r) => server?.close(r));
  await conveyor?.close();
  await redis?.stop();
});

test('under a prefix: enqueue answers 201 with a Location under the prefix, and that URL reads the job', async () => {
  const res = await fetch(`${base}/jobs-api/v1/queues/${queue}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ name: 'send-invoice', data: { invoiceId: 'inv-1' } }),
  });
  assert.equal(res.status, 201);
  const location = res.headers.get('location')!;
  assert.match(location, new RegExp(`^/jobs-api/v1/queues/${queue}/jobs/`));
  const job = (await (await fetch(`${base}${location}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { state: string; data: unknown };
  assert.deepEqual(job.data, { invoiceId: 'inv-1' });
  // The known job's schema holds over HTTP too.
  const bad = await fetch(`${base}/jobs-api/v1/queues/${queue}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ name: 'send-invoice', data: { invoiceId: 7 } }) });
  assert.equal(bad.status, 422);
});

test('the OpenAPI document says where it is served and lists the known job\'s payload schema', async () => {
  const doc = (await (await fetch(`${base}/jobs-api/v1/openapi.json`)).json()) as { servers: { url: string }[]; components: { schemas: Record<string, unknown> } };
  assert.deepEqual(doc.servers.map((s) => s.url), ['/jobs-api']);
  const text = JSON.stringify(doc.components.schemas);
  assert.match(text, /send-invoice/);
  assert.match(text, /invoiceId/);
  const other = (await (await fetch(`${base}/internal/jobs/v1/openapi.json`, { headers: { 'x-app-user': 'a' } })).json()) as { servers: { url: string }[] };
  assert.deepEqual(other.servers.map((s) => s.url), ['/internal/jobs']);
});

test('authenticate: the Conveyor\'s tokens by default; false leaves it to the app\'s own auth in front', async () => {
  assert.equal((await fetch(`${base}/jobs-api/v1/queues`)).status, 401);
  assert.equal((await fetch(`${base}/internal/jobs/v1/queues`)).status, 401, 'the app\'s own gate');
  assert.deepEqual(await (await fetch(`${base}/internal/jobs/v1/queues`)).json(), { app: 'sign in' });
  assert.equal((await fetch(`${base}/internal/jobs/v1/queues`, { headers: { 'x-app-user': 'alice' } })).status, 200, 'no token needed behind the app\'s auth');
});

test('the app\'s own routes before and after the router answer; an unknown /v1 path under the prefix is the API\'s 404', async () => {
  assert.deepEqual(await (await fetch(`${base}/hello`)).json(), { app: 'before' });
  assert.deepEqual(await (await fetch(`${base}/after`)).json(), { app: 'after' });
  const nf = await fetch(`${base}/jobs-api/v1/nope`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(nf.status, 404);
  assert.equal(((await nf.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
  assert.equal((await fetch(`${base}/jobs-api/healthz`)).status, 200);
});
