import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { testConfig, uniqueQueue } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import { silentLogger } from '../shared/log.ts';
import { fail } from '../worker/handlers/basic.ts';
import { startApi, type Api } from './api-app.ts';

let redis: RedisProcess;
let api: Api;
const closers: (() => Promise<void>)[] = [];

before(async () => {
  redis = await startRedis();
  api = await startApi(redis.url);
});
after(async () => {
  for (const c of closers.reverse()) await c();
  await api.close();
  await redis.stop();
});

const JOB_FIELDS = ['id', 'queue', 'name', 'state', 'data', 'opts', 'attemptsMade', 'returnValue', 'failedReason', 'createdAt', 'processedAt', 'finishedAt'];
const COUNT_FIELDS = ['waiting', 'active', 'delayed', 'completed', 'failed', 'dead', 'paused', 'held'];

test('POST /jobs answers 201 {id, queue, name} and GET /jobs/:id shows every field of the job shape', async () => {
  const q = uniqueQueue();
  const created = await api.call('POST', `/v1/queues/${q}/jobs`, {
    body: { name: 'send-email', data: { to: 'a@example.com', n: [1, 2] }, opts: { attempts: 5, backoff: { type: 'fixed', delay: 100 }, priority: 3, timeout: 9000 } },
  });
  assert.equal(created.status, 201);
  assert.deepEqual(Object.keys(created.json).sort(), ['id', 'name', 'queue']);
  assert.equal(created.json.queue, q);
  assert.equal(created.json.name, 'send-email');
  assert.equal(created.headers.get('location'), `/v1/queues/${q}/jobs/${created.json.id}`);

  const got = await api.call('GET', `/v1/queues/${q}/jobs/${created.json.id}`);
  assert.equal(got.status, 200);
  for (const f of JOB_FIELDS) assert.ok(f in got.json, `job view has "${f}"`);
  assert.equal(got.json.id, created.json.id);
  assert.equal(got.json.state, 'waiting');
  assert.deepEqual(got.json.data, { to: 'a@example.com', n: [1, 2] });
  assert.equal(got.json.opts.attempts, 5);
  assert.deepEqual(got.json.opts.backoff, { type: 'fixed', delay: 100 });
  assert.equal(got.json.opts.priority, 3);
  assert.equal(got.json.opts.timeout, 9000);
  assert.equal(got.json.attemptsMade, 0);
  assert.equal(got.json.returnValue, null);
  assert.equal(got.json.failedReason, null);
  assert.ok(!Number.isNaN(Date.parse(got.json.createdAt)));
  assert.equal(got.json.processedAt, null);
  assert.equal(got.json.finishedAt, null);

  const delayed = await api.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'later', opts: { delay: 60_000 } } });
  assert.equal((await api.call('GET', `/v1/queues/${q}/jobs/${delayed.json.id}`)).json.state, 'delayed');
});

test('the same jobId twice answers 201 then 200 {duplicate: true} and keeps the first job', async () => {
  const q = uniqueQueue();
  const first = await api.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'charge', data: { v: 1 }, opts: { jobId: 'order-42' } } });
  const second = await api.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'charge', data: { v: 2 }, opts: { jobId: 'order-42' } } });
  assert.equal(first.status, 201);
  assert.deepEqual(first.json, { id: 'order-42', queue: q, name: 'charge' });
  assert.equal(second.status, 200);
  assert.deepEqual(second.json, { id: 'order-42', queue: q, name: 'charge', duplicate: true });
  const job = await api.call('GET', `/v1/queues/${q}/jobs/order-42`);
  assert.deepEqual(job.json.data, { v: 1 });
  assert.equal((await api.inspector.summary(q)).counts.waiting, 1);
});

test('POST /jobs/bulk enqueues every job and answers 201 {ids}', async () => {
  const q = uniqueQueue();
  const res = await api.call('POST', `/v1/queues/${q}/jobs/bulk`, {
    body: { jobs: [{ name: 'a', data: 1 }, { name: 'b', data: { x: 2 } }, { name: 'c', opts: { delay: 60_000 } }] },
  });
  assert.equal(res.status, 201);
  assert.equal(res.json.ids.length, 3);
  const jobs = await Promise.all(res.json.ids.map((id: string) => api.call('GET', `/v1/queues/${q}/jobs/${id}`)));
  assert.deepEqual(jobs.map((j) => j.json.name), ['a', 'b', 'c']);
  assert.deepEqual(jobs.map((j) => j.json.state), ['waiting', 'waiting', 'delayed']);
  assert.deepEqual(jobs[1]!.json.data, { x: 2 });
});

test('GET /v1/queues lists each queue with paused and every count; GET /v1/queues/:queue shows one', async () => {
  const q = uniqueQueue();
  await api.call('POST', `/v1/queues/${q}/jobs/bulk`, { body: { jobs: [{ name: 'a' }, { name: 'b' }, { name: 'c', opts: { delay: 60_000 } }] } });
  const res = await api.call('GET', '/v1/queues');
  assert.equal(res.status, 200);
  assert.deepEqual(Object.keys(res.json), ['queues']);
  const mine = res.json.queues.find((x: { name: string }) => x.name === q);
  assert.ok(mine, 'the queue is listed');
  assert.deepEqual(Object.keys(mine).sort(), ['counts', 'name', 'paused']);
  assert.deepEqual(Object.keys(mine.counts).sort(), [...COUNT_FIELDS].sort());
  assert.equal(mine.paused, false);
  assert.equal(mine.counts.waiting, 2);
  assert.equal(mine.counts.delayed, 1);
  const one = await api.call('GET', `/v1/queues/${q}`);
  assert.deepEqual(one.json, mine);
  const none = await api.call('GET', `/v1/queues/${uniqueQueue('missing')}`);
  assert.equal(none.status, 404);
  assert.equal(none.json.error.code, 'QUEUE_NOT_FOUND');
});

test('GET /jobs?state= lists jobs in that state, paged, with total, offset and limit', async () => {
  const q = uniqueQueue();
  const { json } = await api.call('POST', `/v1/queues/${q}/jobs/bulk`, { body: { jobs: Array.from({ length: 5 }, (_, i) => ({ name: 'n', data: { i } })) } });
  const page1 = await api.call('GET', `/v1/queues/${q}/jobs?state=waiting&limit=2`);
  assert.equal(page1.status, 200);
  assert.deepEqual(Object.keys(page1.json).sort(), ['jobs', 'limit', 'offset', 'total']);
  assert.equal(page1.json.total, 5);
  assert.equal(page1.json.offset, 0);
  assert.equal(page1.json.limit, 2);
  assert.equal(page1.json.jobs.length, 2);
  const rest = await api.call('GET', `/v1/queues/${q}/jobs?state=waiting&offset=2&limit=50`);
  assert.equal(rest.json.jobs.length, 3);
  const seen = [...page1.json.jobs, ...rest.json.jobs].map((j: { id: string }) => j.id).sort();
  assert.deepEqual(seen, [...json.ids].sort());
  const dflt = await api.call('GET', `/v1/queues/${q}/jobs?state=completed`);
  assert.deepEqual(dflt.json, { jobs: [], total: 0, offset: 0, limit: 50 });
  const unknown = await api.call('GET', `/v1/queues/${uniqueQueue('missing')}/jobs?state=waiting`);
  assert.equal(unknown.json.error.code, 'QUEUE_NOT_FOUND');
});

test('pause and resume answer the queue with its paused flag; an unknown queue is 404', async () => {
  const q = uniqueQueue();
  await api.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'x' } });
  const paused = await api.call('POST', `/v1/queues/${q}/pause`);
  assert.equal(paused.status, 200);
  assert.equal(paused.json.name, q);
  assert.equal(paused.json.paused, true);
  assert.equal(paused.json.counts.paused, 1);
  assert.equal((await api.inspector.summary(q)).paused, true);
  const resumed = await api.call('POST', `/v1/queues/${q}/resume`);
  assert.equal(resumed.json.paused, false);
  assert.equal((await api.inspector.summary(q)).paused, false);
  const missing = await api.call('POST', `/v1/queues/${uniqueQueue('missing')}/pause`);
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error.code, 'QUEUE_NOT_FOUND');
});

test('dead letters: list newest first, replay one and all, drop one and all, 404s', async () => {
  const q = uniqueQueue();
  const startWorker = async () => {
    const host = new WorkerHost({ config: testConfig(redis.url, { CONCURRENCY: '5' }), handlers: { fail }, logger: silentLogger, queues: [q] });
    await host.start();
    return host;
  };
  const deadTotal = async () => (await api.call('GET', `/v1/queues/${q}/dead`)).json.total as number;

  let host = await startWorker();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await api.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'fail', data: { i }, opts: { attempts: 1 } } });
    ids.push(r.json.id);
    // one at a time, so "newest first" has a defined order
    await waitFor(`job ${i} dead`, async () => (await api.call('GET', `/v1/queues/${q}/jobs/${r.json.id}`)).json.state === 'dead');
  }
  await host.stop();

  const page = await api.call('GET', `/v1/queues/${q}/dead?limit=2`);
  assert.equal(page.status, 200);
  assert.equal(page.json.total, 5);
  assert.deepEqual(page.json.jobs.map((j: { id: string }) => j.id), [ids[4], ids[3]]);
  const dl = page.json.jobs[0];
  for (const f of JOB_FIELDS) assert.ok(f in dl, `dead letter has "${f}"`);
  assert.equal(dl.state, 'dead');
  assert.equal(dl.attemptsMade, 1);
  assert.match(dl.failedReason, /attempt 1 failed on purpose/);
  assert.deepEqual(dl.data, { i: 4 });

  const one = await api.call('POST', `/v1/queues/${q}/dead/${ids[0]}/retry`);
  assert.equal(one.status, 200);
  assert.deepEqual(one.json, { replayed: 1 });
  assert.equal((await api.call('GET', `/v1/queues/${q}/jobs/${ids[0]}`)).json.state, 'waiting');
  const dropped = await api.call('DELETE', `/v1/queues/${q}/dead/${ids[1]}`);
  assert.deepEqual(dropped.json, { dropped: 1 });
  assert.equal((await api.call('GET', `/v1/queues/${q}/jobs/${ids[1]}`)).json.error.code, 'JOB_NOT_FOUND');
  assert.equal(await deadTotal(), 3);

  const all = await api.call('POST', `/v1/queues/${q}/dead/retry`);
  assert.deepEqual(all.json, { replayed: 3 });
  assert.equal(await deadTotal(), 0);

  // the four replayed jobs run again (fail has no `times`: they die again)
  host = await startWorker();
  await waitFor('replayed jobs dead again', async () => (await deadTotal()) === 4);
  await host.stop();
  const dropAll = await api.call('DELETE', `/v1/queues/${q}/dead`);
  assert.deepEqual(dropAll.json, { dropped: 4 });
  assert.equal(await deadTotal(), 0);

  for (const [method, path, code] of [
    ['POST', `/v1/queues/${q}/dead/nope/retry`, 'DEAD_LETTER_NOT_FOUND'],
    ['DELETE', `/v1/queues/${q}/dead/nope`, 'DEAD_LETTER_NOT_FOUND'],
    ['DELETE', `/v1/queues/${q}/dead/meta`, 'DEAD_LETTER_NOT_FOUND'],
    ['GET', `/v1/queues/${q}/jobs/nope`, 'JOB_NOT_FOUND'],
    ['GET', `/v1/queues/${q}/jobs/meta`, 'JOB_NOT_FOUND'],
    ['GET', `/v1/queues/${q}/jobs/${ids[0]}:lock`, 'JOB_NOT_FOUND'],
    ['GET', `/v1/queues/${uniqueQueue('missing')}/dead`, 'QUEUE_NOT_FOUND'],
    ['POST', `/v1/queues/${uniqueQueue('missing')}/dead/retry`, 'QUEUE_NOT_FOUND'],
  ] as const) {
    const r = await api.call(method, path);
    assert.equal(r.status, 404, `${method} ${path}`);
    assert.equal(r.json.error.code, code, `${method} ${path}`);
  }
  assert.deepEqual(api.problems.filter((p) => p.level >= 50), [], 'no request hit a bug');
});

test('/healthz answers 200; /readyz 200 on a primary and 503 with Retry-After on a replica', async () => {
  const health = await api.call('GET', '/healthz');
  assert.equal(health.status, 200);
  assert.deepEqual(health.json, { status: 'ok' });
  const ready = await api.call('GET', '/readyz');
  assert.equal(ready.status, 200);
  assert.deepEqual(ready.json, { status: 'ready', role: 'master' });

  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(redis.port)] });
  closers.push(() => replica.stop());
  const onReplica = await startApi(replica.url);
  closers.push(() => onReplica.close());
  const notReady = await onReplica.call('GET', '/readyz');
  assert.equal(notReady.status, 503);
  assert.equal(notReady.headers.get('retry-after'), '1');
  assert.equal(notReady.json.error.code, 'REDIS_UNAVAILABLE');
  assert.match(notReady.json.error.message, /replica/);
  assert.equal((await onReplica.call('GET', '/healthz')).status, 200, 'alive even when not ready');
});

test('a lost Redis answers 503 REDIS_UNAVAILABLE with Retry-After: 1, within the command timeout', async () => {
  const doomed = await startRedis();
  closers.push(() => doomed.stop());
  const a = await startApi(doomed.url, { REDIS_COMMAND_TIMEOUT_MS: '500' });
  closers.push(() => a.close());
  const q = uniqueQueue();
  assert.equal((await a.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'x' } })).status, 201);
  doomed.kill();
  await doomed.stop();
  for (const [method, path, body] of [
    ['POST', `/v1/queues/${q}/jobs`, { name: 'x' }],
    ['POST', `/v1/queues/${q}/jobs/bulk`, { jobs: [{ name: 'x' }] }],
    ['GET', '/v1/queues', undefined],
    ['GET', `/v1/queues/${q}/jobs?state=waiting`, undefined],
    ['GET', '/readyz', undefined],
  ] as const) {
    const started = Date.now();
    const r = await a.call(method, path, { body });
    assert.equal(r.status, 503, `${method} ${path}: ${r.text}`);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.equal(r.json.error.code, 'REDIS_UNAVAILABLE');
    assert.ok(Date.now() - started < 4000, `${method} ${path} answered in ${Date.now() - started} ms`);
  }
  const metrics = await a.call('GET', '/metrics');
  assert.equal(metrics.status, 200, 'metrics still answer');
  assert.match(metrics.text, /^conveyor_redis_up 0$/m);
  assert.match(metrics.text, /^conveyor_enqueue_total\{outcome="failed"\} 2$/m);
  assert.deepEqual(a.problems.filter((p) => p.level >= 50), [], 'no 500s');
});

test('/metrics is Prometheus text with the enqueue counter and queue depth gauges', async () => {
  const q = uniqueQueue();
  await api.call('POST', `/v1/queues/${q}/jobs/bulk`, { body: { jobs: [{ name: 'a' }, { name: 'b' }] } });
  const res = await api.call('GET', '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  assert.match(res.text, /^# TYPE conveyor_enqueue_total counter$/m);
  assert.match(res.text, /^conveyor_enqueue_total\{outcome="created"\} \d+$/m);
  assert.match(res.text, new RegExp(`^conveyor_queue_jobs\\{queue="${q}",state="waiting"\\} 2$`, 'm'));
  assert.match(res.text, new RegExp(`^conveyor_queue_paused\\{queue="${q}"\\} 0$`, 'm'));
  assert.match(res.text, /^conveyor_redis_up 1$/m);
});

test('schedules are served under /v1 with the API\'s error shape (201 create, 422 bad cron, 404 unknown)', async () => {
  const q = uniqueQueue();
  const id = uniqueQueue('sched');
  const created = await api.call('PUT', `/v1/schedules/${id}`, { body: { queue: q, name: 'noop', cron: '*/5 * * * *' } });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.json.id, id);
  const badCron = await api.call('PUT', `/v1/schedules/${id}`, { body: { queue: q, name: 'noop', cron: 'every tuesday' } });
  assert.equal(badCron.status, 422);
  assert.equal(badCron.json.error.code, 'INVALID_CRON');
  const list = await api.call('GET', '/v1/schedules');
  assert.ok(list.json.schedules.some((x: { id: string }) => x.id === id));
  assert.deepEqual((await api.call('DELETE', `/v1/schedules/${id}`)).json, { id, deleted: true });
  const gone = await api.call('GET', `/v1/schedules/${id}`);
  assert.equal(gone.status, 404);
  assert.equal(gone.json.error.code, 'SCHEDULE_NOT_FOUND');
});

/** Every route of the API, as the OpenAPI document must list it. */
const ROUTES: Record<string, string[]> = {
  '/v1/queues': ['get'],
  '/v1/queues/{queue}': ['get'],
  '/v1/queues/{queue}/jobs': ['get', 'post'],
  '/v1/queues/{queue}/jobs/bulk': ['post'],
  '/v1/queues/{queue}/jobs/{id}': ['get'],
  '/v1/queues/{queue}/jobs/{id}/timeline': ['get'],
  '/v1/history': ['get'],
  '/v1/queues/{queue}/pause': ['post'],
  '/v1/queues/{queue}/resume': ['post'],
  '/v1/queues/{queue}/dead': ['get', 'delete'],
  '/v1/queues/{queue}/dead/retry': ['post'],
  '/v1/queues/{queue}/limits': ['get', 'put', 'delete'],
  '/v1/queues/{queue}/dead/{id}': ['delete'],
  '/v1/queues/{queue}/dead/{id}/retry': ['post'],
  '/v1/batches': ['post'],
  '/v1/batches/{id}': ['get'],
  '/v1/batches/{id}/jobs': ['post'],
  '/v1/batches/{id}/seal': ['post'],
  '/v1/workflows': ['post'],
  '/v1/workflows/{id}': ['get'],
  '/v1/schedules': ['get'],
  '/v1/schedules/{id}': ['get', 'put', 'delete'],
  '/v1/schedules/{id}/pause': ['post'],
  '/v1/schedules/{id}/resume': ['post'],
  '/v1/schedules/{id}/run': ['post'],
  '/v1/openapi.json': ['get'],
  '/healthz': ['get'],
  '/readyz': ['get'],
  '/metrics': ['get'],
};

test('/v1/openapi.json is an OpenAPI 3.1 document listing every route, and every listed route is served', async () => {
  const res = await api.call('GET', '/v1/openapi.json');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const doc = res.json;
  assert.equal(doc.openapi, '3.1.0');
  const methods = (item: Record<string, unknown>) => Object.keys(item).filter((k) => ['get', 'put', 'post', 'delete', 'patch'].includes(k)).sort();
  assert.deepEqual(Object.keys(doc.paths).sort(), Object.keys(ROUTES).sort());
  for (const [path, ms] of Object.entries(ROUTES)) assert.deepEqual(methods(doc.paths[path]), [...ms].sort(), path);
  // every $ref resolves
  for (const m of res.text.matchAll(/"\$ref":"#\/components\/(\w+)\/(\w+)"/g)) assert.ok(doc.components[m[1]!]?.[m[2]!], `${m[0]} resolves`);

  // The other direction: each documented operation reaches a route (not the catch-all 404).
  const q = uniqueQueue();
  await api.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'x' } });
  for (const [path, ms] of Object.entries(ROUTES)) {
    for (const m of ms) {
      const r = await api.call(m.toUpperCase(), path.replace('{queue}', q).replace('{id}', 'x'));
      assert.notEqual(r.json?.error?.code, 'NOT_FOUND', `${m.toUpperCase()} ${path} is served`);
      assert.notEqual(r.status, 405, `${m.toUpperCase()} ${path} allows the method`);
    }
  }
});

test('durable enqueue with too few replicas answers 503 DURABILITY_NOT_CONFIRMED naming the job id, and the job exists', async () => {
  const q = uniqueQueue();
  // An earlier test may have attached a replica to this Redis; none has 5: WAIT 5 can only time out.
  const r = await api.call('POST', `/v1/queues/${q}/jobs`, { body: { name: 'noop', opts: { minReplicas: 5 } } });
  assert.equal(r.status, 503);
  assert.equal(r.headers.get('retry-after'), '1');
  assert.equal(r.json.error.code, 'DURABILITY_NOT_CONFIRMED');
  assert.ok(r.json.error.replicas < 5);
  assert.equal(r.json.error.required, 5);
  assert.equal(r.json.error.ids.length, 1);
  const got = await api.call('GET', `/v1/queues/${q}/jobs/${r.json.error.ids[0]}`);
  assert.equal(got.status, 200);
  assert.equal(got.json.state, 'waiting');
});
