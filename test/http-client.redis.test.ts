/**
 * conveyor/http-client against the real API (createApp on a spawned Redis),
 * checked against the OpenAPI document from both sides:
 *
 * - every operationId of the document is a method of the client and every
 *   method of the client (beside the documented conveniences) is an
 *   operationId;
 * - every method is called, and each request it sends goes to the path and
 *   method the document gives its operationId, with a body that the
 *   document's request schema accepts (the document with the known jobs:
 *   typed enqueue bodies); each answer's body validates (Ajv, formats
 *   checked) against the schema the served document gives that operation and
 *   status, with no field the document does not name, and is what the
 *   method resolved with;
 * - errors: at least one answer of each error status the client can cause
 *   (400, 401, 403, 404, 409, 413, 415, 422, 429, 503) validates the same way,
 *   and the ConveyorHttpError carries its code, status, message, Retry-After
 *   and extra fields.
 *
 * A field renamed on either side, a new route without a client method or a
 * client method without a route fails here.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import express from 'express';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { testConfig, uniqueQueue } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { coreOf } from '../shared/conveyor.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import { silentLogger } from '../shared/log.ts';
import { parseApiTokens } from '../shared/config/config.ts';
import { JobCatalog } from '../shared/jobs/job-catalog.ts';
import { authenticate } from '../server/auth.ts';
import { errorHandler } from '../server/http-errors.ts';
import { rateLimit } from '../server/rate-limit.ts';
import { openApiDocument } from '../server/openapi.ts';
import { createHttpClient, isConveyorHttpError, type ConveyorHttpError, type HttpClient, type OperationId } from '../http-client/index.ts';
import { resizeImage, sendWelcome } from './fixtures/http-client-jobs.ts';
import { OpenApiValidator } from './openapi-validator.ts';
import { startApi, type Api } from './api-app.ts';
import { createTestDatabase, type TestDatabase } from '../shared/testing/postgres.ts';
import { HistoryArchiver } from '../shared/history/archiver.ts';
import { closeRedis } from '../shared/redis/connections.ts';

const FULL = 'client-full-token-123456';
const READER = 'client-read-token-123456';
const MAX_PAYLOAD_BYTES = 4096;
/** Every attempt fails: with attempts 1 the job is a dead letter at once. */
const fail = () => {
  throw new Error('fails on purpose');
};

/** Client methods that are not operations: they call one (enqueue → enqueueJob, enqueueBulk → enqueueJobsBulk). */
const CONVENIENCES = { enqueue: 'enqueueJob', enqueueBulk: 'enqueueJobsBulk' } as const satisfies Record<Exclude<keyof HttpClient, OperationId>, OperationId>;

interface Exchange {
  method: string;
  url: URL;
  requestBody: unknown;
  status: number;
  contentType: string;
  text: string;
  retryAfter: string | null;
}

let redis: RedisProcess;
let db: TestDatabase;
let api: Api;
let served: OpenApiValidator;
/** The document with the API's known jobs, as the server will serve it once it passes them: requests are checked against it. */
let withJobs: OpenApiValidator;
const exchanges: Exchange[] = [];
/** operationId → statuses seen, all checked. */
const covered = new Map<string, Set<number>>();
let client: HttpClient;

/** fetch that keeps a copy of every request and answer for the checks. */
const recordingFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  const text = await res.clone().text();
  const body = init?.body;
  exchanges.push({
    method: init?.method ?? 'GET',
    url: new URL(String(input)),
    requestBody: typeof body === 'string' ? JSON.parse(body) : undefined,
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    text,
    retryAfter: res.headers.get('retry-after'),
  });
  return res;
};

before(async () => {
  redis = await startRedis();
  db = await createTestDatabase();
  api = await startApi(redis.url, {
    HISTORY_URL: db.url,
    API_TOKENS: `full:${FULL}:enqueue+read+admin,reader:${READER}:read`,
    HANDLERS: join(import.meta.dirname, 'fixtures', 'http-client-jobs.ts'),
    MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD_BYTES),
    ENQUEUE_WAIT_TIMEOUT_MS: '50',
  });
  served = new OpenApiValidator((await api.call('GET', '/v1/openapi.json')).json, { closed: true });
  const catalog = await JobCatalog.create([sendWelcome, resizeImage].map((definition) => ({ definition, from: 'http-client-jobs.ts' })));
  withJobs = new OpenApiValidator(openApiDocument(catalog.names.map((name) => ({ name, description: catalog.get(name)?.definition?.description, jsonSchema: catalog.get(name)?.jsonSchema }))));
  client = createHttpClient({ baseUrl: api.url, token: FULL, fetch: recordingFetch });
});
after(async () => {
  await api?.close();
  await redis?.stop();
  await db?.drop();
});

function lastExchange(): Exchange {
  const x = exchanges.at(-1);
  assert.ok(x, 'a request was sent');
  return x;
}

/** The request went where the document puts the operation, with a body its schema accepts (or, for a request meant to be refused, does not). */
function checkRequest(operationId: OperationId, x: Exchange, documentRefuses = false): void {
  const reached = served.match(x.method, x.url.pathname);
  assert.equal(reached?.operationId, operationId, `${x.method} ${x.url.pathname} is the document's ${operationId}`);
  const problems = withJobs.requestErrors(operationId, x.requestBody);
  if (documentRefuses) assert.notDeepEqual(problems, [], `${operationId}: the document refuses this body too`);
  else assert.deepEqual(problems, [], `${operationId}: the request body matches the document`);
  for (const key of x.url.searchParams.keys()) {
    // searchHistory's data.<path> filters are documented in its description (no OpenAPI parameter names a family of keys).
    const documented = (reached!.op.parameters ?? []).some((p: { name: string; in: string }) => p.in === 'query' && p.name === key) || (operationId === 'searchHistory' && key.startsWith('data.'));
    assert.ok(documented, `${operationId}: query parameter "${key}" is documented`);
  }
}

function checkAnswer(operationId: OperationId, x: Exchange): unknown {
  const media = x.contentType.split(';')[0]!.trim();
  const body = media === 'application/json' ? JSON.parse(x.text) : x.text;
  assert.deepEqual(served.responseErrors(operationId, x.status, body, media), [], `${operationId} → ${x.status}: the body matches the document: ${x.text.slice(0, 300)}`);
  if (!covered.has(operationId)) covered.set(operationId, new Set());
  covered.get(operationId)!.add(x.status);
  return body;
}

/** Calls a method; the request and the answer are checked against the document, and the method resolves with the answer's body. */
async function ok<T>(operationId: OperationId, call: Promise<T>, status = 200): Promise<T> {
  const value = await call;
  const x = lastExchange();
  checkRequest(operationId, x);
  assert.equal(x.status, status, `${operationId}: ${x.text.slice(0, 300)}`);
  assert.deepEqual(value, checkAnswer(operationId, x), `${operationId}: resolves with the answer's body`);
  return value;
}

/** Calls a method that must fail: the error answer is checked against the document, and the ConveyorHttpError carries it. */
async function rejects(operationId: OperationId, call: Promise<unknown>, status: number, code: string, { documentRefuses = false } = {}): Promise<ConveyorHttpError> {
  let caught: unknown;
  await call.then(
    () => assert.fail(`${operationId}: expected ${status} ${code}`),
    (err: unknown) => {
      caught = err;
    },
  );
  assert.ok(isConveyorHttpError(caught), `${operationId}: a ConveyorHttpError, got ${String(caught)}`);
  const x = lastExchange();
  checkRequest(operationId, x, documentRefuses);
  const body = checkAnswer(operationId, x) as { error: { code: string; message: string } };
  assert.deepEqual([caught.status, caught.code], [status, code], caught.message);
  assert.equal(x.status, status);
  assert.equal(body.error.code, code);
  assert.equal(caught.message, body.error.message);
  assert.equal(caught.retryAfter, x.retryAfter === null ? undefined : Number(x.retryAfter));
  return caught;
}

test('every operationId of the document is a client method, and every client method an operation (or a documented convenience)', () => {
  const documented = [...served.operations.keys()].sort();
  const methods = Object.keys(client).filter((k) => typeof (client as unknown as Record<string, unknown>)[k] === 'function');
  const operations = methods.filter((m) => !(m in CONVENIENCES)).sort();
  assert.deepEqual(operations, documented);
  for (const [method, op] of Object.entries(CONVENIENCES)) {
    assert.ok(methods.includes(method), `convenience ${method}`);
    assert.ok(served.operations.has(op), `${method} calls ${op}`);
  }
  assert.equal(documented.length, 35);
});

test('probes and the document', async () => {
  await ok('healthz', client.healthz());
  const ready = await ok('readyz', client.readyz());
  assert.equal(ready.status, 'ready');
  const text = await ok('metrics', client.metrics());
  assert.match(text, /^# HELP /m);
  const doc = await ok('getOpenApi', client.getOpenApi());
  assert.equal(doc.openapi, '3.1.0');
});

test('enqueue: plain, duplicate, typed by definition, bulk; queues and jobs', async () => {
  const q = uniqueQueue();
  const created = await ok('enqueueJob', client.enqueueJob(q, { name: 'noop', data: { a: 1 }, opts: { jobId: `dup-${q}`, attempts: 2, backoff: { type: 'fixed', delay: 10 } } }), 201);
  assert.deepEqual(created, { id: `dup-${q}`, queue: q, name: 'noop' });
  const dup = await ok('enqueueJob', client.enqueueJob(q, { name: 'noop', opts: { jobId: `dup-${q}` } }), 200);
  assert.equal(dup.duplicate, true);
  const typed = await ok('enqueueJob', client.enqueueJob<typeof sendWelcome>(q, { name: 'send-welcome', data: { userId: 7, locale: 'fr' } }), 201);
  assert.equal(typed.name, 'send-welcome');

  // A definition value: its queue, its name, its defaults under the given options.
  const byDef = await ok('enqueueJob', client.enqueue(sendWelcome, { userId: 42 }, { priority: 2 }), 201);
  assert.deepEqual([byDef.queue, byDef.name], ['emails', 'send-welcome']);
  assert.deepEqual(lastExchange().requestBody, { name: 'send-welcome', data: { userId: 42 }, opts: { attempts: 5, priority: 2 } });
  const bulkByDef = await ok('enqueueJobsBulk', client.enqueueBulk(resizeImage, [{ url: 'a.png', width: 10 }, { url: 'b.png', width: 20 }]), 201);
  assert.equal(bulkByDef.ids.length, 2);
  const bulk = await ok('enqueueJobsBulk', client.enqueueJobsBulk(q, [{ name: 'noop' }, { name: 'noop', data: [1], opts: { delay: 60_000 } }]), 201);
  assert.equal(bulk.ids.length, 2);

  const queues = await ok('listQueues', client.listQueues());
  assert.ok(queues.queues.some((x) => x.name === q));
  const one = await ok('getQueue', client.getQueue(q));
  assert.equal(one.counts.waiting + one.counts.delayed, 4);
  const page = await ok('listJobs', client.listJobs(q, { state: 'waiting', offset: 0, limit: 2 }));
  assert.deepEqual([page.total, page.offset, page.limit, page.jobs.length], [3, 0, 2, 2]);
  const job = await ok('getJob', client.getJob(q, created.id));
  assert.deepEqual([job.state, job.data, job.opts.attempts], ['waiting', { a: 1 }, 2]);
  assert.equal((await ok('pauseQueue', client.pauseQueue(q))).paused, true);
  assert.equal((await ok('resumeQueue', client.resumeQueue(q))).paused, false);
  const limits = await ok('putQueueLimits', client.putQueueLimits(q, { perKey: { concurrency: 2 } }));
  assert.deepEqual(limits.limits, { perKey: { concurrency: 2 } });
  assert.deepEqual((await ok('getQueueLimits', client.getQueueLimits(q))).limits, { perKey: { concurrency: 2 } });
  assert.deepEqual((await ok('clearQueueLimits', client.clearQueueLimits(q))).limits, {});
});

test('dead letters: list, replay one and all, drop one and all', async () => {
  const q = uniqueQueue();
  /** Runs a worker whose `fail` jobs die at once, until the queue has this many dead letters. */
  const killUntil = async (dead: number) => {
    const host = new WorkerHost({ config: testConfig(redis.url), handlers: { fail }, logger: silentLogger, queues: [q] });
    await host.start();
    try {
      await waitFor(`${dead} dead letters`, async () => (await client.listDeadLetters(q)).total === dead);
    } finally {
      await host.stop();
    }
  };
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push((await client.enqueueJob(q, { name: 'fail', data: { i }, opts: { attempts: 1 } })).id);
  await killUntil(4);
  const page = await ok('listDeadLetters', client.listDeadLetters(q, { offset: 1, limit: 2 }));
  assert.deepEqual([page.total, page.jobs.length, page.offset, page.limit], [4, 2, 1, 2]);
  assert.equal(page.jobs[0]?.state, 'dead');
  const deadJob = await ok('getJob', client.getJob(q, ids[0]!));
  assert.equal(deadJob.state, 'dead');
  assert.deepEqual(await ok('replayDeadLetter', client.replayDeadLetter(q, ids[0]!)), { replayed: 1 });
  assert.deepEqual(await ok('dropDeadLetter', client.dropDeadLetter(q, ids[1]!)), { dropped: 1 });
  assert.deepEqual(await ok('dropAllDeadLetters', client.dropAllDeadLetters(q)), { dropped: 2 });
  // The replayed job fails again (its attempts start again): one dead letter to replay with the rest.
  await killUntil(1);
  assert.deepEqual(await ok('replayAllDeadLetters', client.replayAllDeadLetters(q)), { replayed: 1 });
  assert.deepEqual(await ok('listDeadLetters', client.listDeadLetters(q)), { jobs: [], total: 0, offset: 0, limit: 50 });
});

test('schedules: create, replace, read, list, pause, resume, run, delete', async () => {
  const q = uniqueQueue();
  const id = `client-${q}`;
  const created = await ok('putSchedule', client.putSchedule<typeof sendWelcome>(id, { queue: q, name: 'send-welcome', cron: '0 2 * * *', tz: 'Europe/Paris', data: { userId: 1 }, opts: { attempts: 2 } }), 201);
  assert.equal(created.nextRuns.length, 5);
  const replaced = await ok('putSchedule', client.putSchedule(id, { queue: q, name: 'send-welcome', cron: '*/5 * * * *', data: { userId: 2 } }), 200);
  assert.equal(replaced.cron, '*/5 * * * *');
  assert.deepEqual(await ok('getSchedule', client.getSchedule(id)), replaced);
  assert.deepEqual(await ok('listSchedules', client.listSchedules({ queue: q })), { schedules: [replaced] });
  assert.ok((await ok('listSchedules', client.listSchedules())).schedules.some((s) => s.id === id));
  assert.equal((await ok('pauseSchedule', client.pauseSchedule(id))).paused, true);
  assert.equal((await ok('resumeSchedule', client.resumeSchedule(id))).paused, false);
  const run = await ok('runSchedule', client.runSchedule(id), 201);
  assert.deepEqual([run.queue, run.name, run.schedule], [q, 'send-welcome', id]);
  assert.deepEqual(await ok('deleteSchedule', client.deleteSchedule(id)), { id, deleted: true });
});

test('history: search and a job\'s timeline', async () => {
  const q = uniqueQueue();
  const conn = coreOf(api.conveyor).connect('inspector', 'conveyor-history');
  const archiver = new HistoryArchiver({ redis: conn, history: api.config.history!, logger: silentLogger, idleMs: 20 });
  archiver.start();
  try {
    const { id } = await ok('enqueueJob', client.enqueueJob(q, { name: 'send-welcome', data: { userId: 7 } }), 201);
    await archiver.caughtUp();
    const page = await ok('searchHistory', client.searchHistory({ queue: q, name: 'send-welcome', data: { userId: 7 }, limit: 10 }));
    assert.deepEqual(page.jobs.map((j) => j.id), [id]);
    assert.equal(page.next, null);
    const t = await ok('getJobTimeline', client.getJobTimeline(q, id));
    assert.deepEqual(t.events.map((e) => e.type), ['enqueued']);
    const e = await rejects('searchHistory', client.searchHistory({ state: 'sideways' as never }), 400, 'INVALID_REQUEST');
    assert.match(e.message, /"state"/);
    await rejects('getJobTimeline', client.getJobTimeline(q, 'no-such-job'), 404, 'JOB_NOT_FOUND');
  } finally {
    await archiver.stop();
    await closeRedis(conn);
  }
});

test('batches: create, read, add to an open one, seal; 404, 409 and 422 in the documented shape', async () => {
  const q = uniqueQueue();
  const created = await ok('createBatch', client.createBatch({ jobs: [{ queue: q, name: 'send-welcome', data: { userId: 1 } }], open: true, onComplete: { queue: q, name: 'noop' }, description: 'client' }), 201);
  assert.deepEqual([created.total, created.sealed, created.ids.length], [1, false, 1]);
  const added = await ok('addBatchJobs', client.addBatchJobs(created.id, [{ queue: q, name: 'noop' }]), 201);
  assert.equal(added.total, 2);
  const view = await ok('getBatch', client.getBatch(created.id));
  assert.deepEqual([view.state, view.total, view.pending, view.description], ['open', 2, 2, 'client']);
  const sealed = await ok('sealBatch', client.sealBatch(created.id));
  assert.equal(sealed.state, 'running');
  await rejects('addBatchJobs', client.addBatchJobs(created.id, [{ queue: q, name: 'noop' }]), 409, 'BATCH_SEALED');
  await rejects('getBatch', client.getBatch('no-such-batch'), 404, 'BATCH_NOT_FOUND');
  await rejects('sealBatch', client.sealBatch('no-such-batch'), 404, 'BATCH_NOT_FOUND');
  await rejects('createBatch', client.createBatch({ jobs: [{ queue: q, name: 'noop' }], onSuccess: { queue: q, name: 'not-a-known-job' } }), 422, 'UNKNOWN_JOB_NAME');
  await rejects('createBatch', client.createBatch({ jobs: [] }), 400, 'INVALID_REQUEST', { documentRefuses: true });
});

test('workflows: create a graph, read its steps; a cycle is 422 WORKFLOW_INVALID naming the step', async () => {
  const q = uniqueQueue();
  const created = await ok('createWorkflow', client.createWorkflow({ steps: { a: { queue: q, name: 'noop' }, b: { queue: q, name: 'noop', after: ['a'], optional: true } }, description: 'two' }), 201);
  assert.deepEqual(Object.keys(created.steps).sort(), ['a', 'b']);
  const view = await ok('getWorkflow', client.getWorkflow(created.id));
  assert.deepEqual([view.steps.a?.state, view.steps.b?.state, view.order], ['pending', 'blocked', ['a', 'b']]);
  const cycle = await rejects('createWorkflow', client.createWorkflow({ steps: { a: { queue: q, name: 'noop', after: ['b'] }, b: { queue: q, name: 'noop', after: ['a'] } } }), 422, 'WORKFLOW_INVALID');
  assert.match(cycle.message, /form a cycle/);
  await rejects('getWorkflow', client.getWorkflow('no-such-workflow'), 404, 'BATCH_NOT_FOUND');
});

test('error answers of each kind the client can cause match the document and become ConveyorHttpErrors', async () => {
  const q = uniqueQueue();
  await client.enqueueJob(q, { name: 'noop' });
  const anonymous = createHttpClient({ baseUrl: api.url, fetch: recordingFetch });
  const reader = createHttpClient({ baseUrl: `${api.url}/`, token: READER, fetch: recordingFetch });

  await rejects('getQueue', client.getQueue('not a queue name!'), 400, 'INVALID_QUEUE_NAME');
  await rejects('listJobs', client.listJobs(q, { state: 'lost' as never }), 400, 'INVALID_REQUEST');
  const unauthorized = await rejects('listQueues', anonymous.listQueues(), 401, 'UNAUTHORIZED');
  assert.match(unauthorized.url, /\/v1\/queues$/);
  await rejects('enqueueJob', reader.enqueueJob(q, { name: 'noop' }), 403, 'FORBIDDEN');
  await rejects('getJob', client.getJob(q, 'no-such-job'), 404, 'JOB_NOT_FOUND');
  await rejects('getQueue', client.getQueue(uniqueQueue('missing')), 404, 'QUEUE_NOT_FOUND');
  await rejects('replayDeadLetter', client.replayDeadLetter(q, 'nope'), 404, 'DEAD_LETTER_NOT_FOUND');
  await rejects('getSchedule', client.getSchedule('no-such-schedule'), 404, 'SCHEDULE_NOT_FOUND');

  const configured = `config-${q}`;
  await coreOf(api.conveyor).schedules.put(configured, { queue: q, name: 'noop', cron: '0 0 1 1 *' }, { managedBy: 'config' });
  await rejects('putSchedule', client.putSchedule(configured, { queue: q, name: 'noop', cron: '* * * * *' }), 409, 'SCHEDULE_MANAGED_BY_CONFIG');
  await rejects('deleteSchedule', client.deleteSchedule(configured), 409, 'SCHEDULE_MANAGED_BY_CONFIG');
  await coreOf(api.conveyor).schedules.remove(configured, { managedBy: 'config' });

  await rejects('enqueueJob', client.enqueueJob(q, { name: 'noop', data: 'x'.repeat(MAX_PAYLOAD_BYTES + 1) }), 413, 'PAYLOAD_TOO_LARGE');
  await rejects('putSchedule', client.putSchedule(`bad-${q}`, { queue: q, name: 'noop', cron: '99 * * * *' }), 422, 'INVALID_CRON');
  // The API knows send-welcome's schema (HANDLERS): data the types would refuse is refused there too.
  const invalid = await rejects('enqueueJob', client.enqueueJob(q, { name: 'send-welcome', data: { userId: 'seven' } }), 422, 'PAYLOAD_INVALID', { documentRefuses: true });
  assert.match(invalid.message, /data\.userId/);

  // Durable enqueue with replicas that do not exist: 503 with Retry-After and the ids to retry with.
  const durable = await rejects('enqueueJob', client.enqueueJob(q, { name: 'noop', opts: { minReplicas: 5 } }), 503, 'DURABILITY_NOT_CONFIRMED');
  assert.equal(durable.retryAfter, 1);
  assert.equal(durable.details?.required, 5);
  assert.equal((durable.details?.ids as string[]).length, 1);

  // The client always sends JSON; a body of another type is answered 415 in the documented shape.
  const wrongType = await api.call('POST', `/v1/queues/${q}/jobs`, { token: FULL, raw: 'name=noop', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(wrongType.status, 415);
  assert.deepEqual(served.responseErrors('enqueueJob', 415, wrongType.json), []);
});

test('429: the rate limiter (with a frozen clock) answers in the documented shape and the client reads Retry-After', async () => {
  // The real limiter, token check and error handler, on a clock that never moves: exactly 2 pass, then 429.
  const app = express();
  app.use('/v1', authenticate(parseApiTokens(`full:${FULL}:read`)), rateLimit(2, { now: () => 0 }));
  app.get('/v1/queues', (_req, res) => {
    res.json({ queues: [] });
  });
  app.use(errorHandler(silentLogger, 'redis'));
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const limited = createHttpClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: FULL, fetch: recordingFetch });
    await ok('listQueues', limited.listQueues());
    await ok('listQueues', limited.listQueues());
    const err = await rejects('listQueues', limited.listQueues(), 429, 'RATE_LIMITED');
    assert.equal(err.retryAfter, 1);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('every operation was called with success, and the error statuses above were all seen', () => {
  const missing = [...served.operations.keys()].filter((op) => ![...(covered.get(op) ?? [])].some((s) => s < 300));
  assert.deepEqual(missing, [], 'operations never called with success');
  const errors = new Set([...covered.values()].flatMap((s) => [...s].filter((x) => x >= 400)));
  for (const s of [400, 401, 403, 404, 409, 413, 422, 429, 503]) assert.ok(errors.has(s), `an error ${s} was checked`);
});
