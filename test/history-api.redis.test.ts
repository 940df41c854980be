/**
 * History through the server: `conveyor server` with HISTORY_URL runs the
 * archiver; GET /v1/history searches (every filter, cursor paging, newest
 * first), GET …/timeline lists attempts, bad parameters are 400 naming them;
 * a Postgres that is down at start does not stop the server from serving;
 * bad HISTORY_* settings are config errors (exit 2 naming the variable).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../server/standalone.ts';
import { loadConfig } from '../shared/config/config.ts';
import { isConveyorError } from '../shared/errors.ts';
import { silentLogger } from '../shared/log.ts';
import { coreOf } from '../shared/conveyor.ts';
import { freePort } from '../shared/testing/free-port.ts';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { createTestDatabase, type TestDatabase } from '../shared/testing/postgres.ts';
import { spawnConveyor } from '../shared/testing/processes.ts';
import { testEnv, uniqueQueue } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import { ConveyorError } from '../shared/errors.ts';

let redis: RedisProcess;
let db: TestDatabase;
let server: RunningServer;

before(async () => {
  redis = await startRedis();
  db = await createTestDatabase();
  server = await startServer({ env: testEnv(redis.url, { HISTORY_URL: db.url, API_PORT: '0', LOG_LEVEL: 'silent' }), logger: silentLogger });
});
after(async () => {
  await server?.stop();
  await redis?.stop();
  await db?.drop();
});

async function get(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}${path}`);
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

test('GET /v1/history: filters by queue, name, state, key, text and payload path; newest first, cursor-paged; the timeline lists every attempt', async () => {
  const q = uniqueQueue('hist-api');
  const conveyor = server.conveyor;
  const host = new WorkerHost({
    config: loadConfig(testEnv(redis.url, { CONCURRENCY: '4' })),
    logger: silentLogger,
    queues: [q],
    handlers: {
      charge: (d: { user: { id: number } }) => {
        if (d.user.id === 2) throw new ConveyorError('HTTP_STATUS', 'card declined by the bank');
        return { charged: d.user.id };
      },
    },
  });
  await host.start();
  try {
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push((await conveyor.enqueue(q, { name: 'charge', data: { user: { id: i }, memo: `order number ${i}` }, opts: { key: i % 2 ? 'odd' : 'even', attempts: 1 } })).id);
    await waitFor('jobs done', async () => {
      const s = await conveyor.queues.get(q);
      return s.counts.completed + s.counts.dead === 5;
    }, { timeoutMs: 20_000 });
    await waitFor('history has them all', async () => (await conveyor.history.search({ queue: q, limit: 10 })).jobs.filter((j) => j.state === 'completed' || j.state === 'dead').length === 5, { timeoutMs: 20_000 });

    const all = await get(`/v1/history?queue=${q}`);
    assert.equal(all.status, 200);
    assert.deepEqual(all.body.jobs.map((j: any) => j.id), [...ids].reverse(), 'newest first');
    const page1 = await get(`/v1/history?queue=${q}&limit=2`);
    const page2 = await get(`/v1/history?queue=${q}&limit=2&cursor=${page1.body.next}`);
    const page3 = await get(`/v1/history?queue=${q}&limit=2&cursor=${page2.body.next}`);
    assert.deepEqual([...page1.body.jobs, ...page2.body.jobs, ...page3.body.jobs].map((j: any) => j.id), [...ids].reverse());
    assert.equal(page3.body.next, null);

    const ids_ = (r: { body: any }) => r.body.jobs.map((j: any) => j.id).sort();
    assert.deepEqual(ids_(await get(`/v1/history?queue=${q}&state=dead`)), [ids[1]]);
    assert.deepEqual(ids_(await get(`/v1/history?queue=${q}&key=even`)), [ids[1], ids[3]].sort());
    assert.deepEqual(ids_(await get(`/v1/history?queue=${q}&data.user.id=3`)), [ids[2]]);
    assert.deepEqual(ids_(await get(`/v1/history?queue=${q}&q=declined`)), [ids[1]]);
    assert.deepEqual(ids_(await get(`/v1/history?queue=${q}&name=other`)), []);
    assert.deepEqual(ids_(await get(`/v1/history?queue=${q}&until=2000-01-01T00:00:00Z`)), []);
    assert.equal((await get(`/v1/history?queue=${q}&since=${Date.now() - 3_600_000}`)).body.jobs.length, 5);

    const t = await get(`/v1/queues/${q}/jobs/${ids[1]}/timeline`);
    assert.equal(t.status, 200);
    assert.deepEqual(t.body.events.map((e: any) => e.type), ['enqueued', 'started', 'failed', 'dead-lettered']);
    assert.equal(t.body.attempts.length, 1);
    assert.equal(t.body.attempts[0].outcome, 'failed');
    assert.equal(t.body.attempts[0].error.code, 'HTTP_STATUS');
    assert.equal(t.body.attempts[0].worker, host.id);
    assert.equal(t.body.job.state, 'dead');
    assert.equal((await get(`/v1/queues/${q}/jobs/nope/timeline`)).body.error.code, 'JOB_NOT_FOUND');

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^conveyor_history_up 1$/m);
    assert.match(metrics, /^conveyor_history_events_archived \d+$/m);
  } finally {
    await host.stop();
  }
});

test('a finished job Redis has trimmed is answered from the history: GET job and getJob say source "history"; a job never seen stays 404', async () => {
  const q = uniqueQueue('hist-trim');
  const conveyor = server.conveyor;
  const host = new WorkerHost({ config: loadConfig(testEnv(redis.url)), logger: silentLogger, queues: [q], handlers: { ok: (d: { n: number }) => ({ doubled: d.n * 2 }) } });
  await host.start();
  try {
    const { id } = await conveyor.enqueue(q, { name: 'ok', data: { n: 21 }, opts: { key: 'acct-9' } });
    await conveyor.waitFor({ queue: q, id }, { timeoutMs: 20_000 });
    await waitFor('the completion archived', async () => (await conveyor.history.timeline(q, id))?.job?.state === 'completed', { timeoutMs: 20_000 });
    const live = await get(`/v1/queues/${q}/jobs/${id}`);
    assert.equal(live.status, 200);
    assert.equal(live.body.source, undefined, 'while Redis holds it, Redis answers');
    assert.deepEqual(live.body.returnValue, { doubled: 42 });

    // What BullMQ's keep-the-last-1,000 trimming does to an old completed job: its hash and its entry go, no event.
    const conn = coreOf(conveyor).conn;
    const base = `conveyor:{${q}}`;
    await conn.multi().del(`${base}:${id}`).zrem(`${base}:completed`, id).exec();
    assert.equal(await coreOf(conveyor).inspector.getJob(q, id), undefined);

    const fromHistory = await get(`/v1/queues/${q}/jobs/${id}`);
    assert.equal(fromHistory.status, 200);
    assert.equal(fromHistory.body.source, 'history');
    assert.equal(fromHistory.body.state, 'completed');
    assert.equal(fromHistory.body.name, 'ok');
    assert.deepEqual(fromHistory.body.data, { n: 21 });
    assert.equal(fromHistory.body.opts.key, 'acct-9');
    assert.equal(fromHistory.body.attemptsMade, 1);
    assert.equal(fromHistory.body.returnValue, null, 'the history keeps no return value');
    assert.ok(fromHistory.body.finishedAt);
    const viaLibrary = await conveyor.getJob(q, id);
    assert.equal(viaLibrary?.source, 'history');
    assert.equal(viaLibrary?.state, 'completed');

    const never = await get(`/v1/queues/${q}/jobs/never-was`);
    assert.equal(never.status, 404);
    assert.equal(never.body.error.code, 'JOB_NOT_FOUND');
    assert.equal(await conveyor.getJob(q, 'never-was'), undefined);
  } finally {
    await host.stop();
  }
});

test('bad /v1/history parameters are 400 INVALID_REQUEST naming the parameter', async () => {
  for (const [query, param] of [
    ['state=sideways', 'state'],
    ['since=yesterday', 'since'],
    ['since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z', 'until'],
    ['limit=0', 'limit'],
    ['limit=abc', 'limit'],
    ['queue=bad%20name', 'queue'],
    ['cursor=zzz', 'cursor'],
    ['colour=red', 'colour'],
    ['data.=1', 'data.'],
    ['queue=a&queue=b', 'queue'],
  ] as const) {
    const r = await get(`/v1/history?${query}`);
    assert.equal(r.status, 400, query);
    assert.equal(r.body.error.code, 'INVALID_REQUEST', query);
    assert.ok(r.body.error.message.includes(`"${param}`), `${query}: ${r.body.error.message}`);
  }
  await assert.rejects(server.conveyor.history.search({ state: 'nope' }), (e) => isConveyorError(e, 'INVALID_REQUEST') && /"state"/.test(e.message));
});

test('a Postgres that is down at start: the server serves jobs; history answers 503 HISTORY_UNAVAILABLE', async () => {
  const port = await freePort();
  const down = await startServer({ env: testEnv(redis.url, { HISTORY_URL: `postgres://postgres@127.0.0.1:${port}/none`, API_PORT: '0', LOG_LEVEL: 'silent' }), logger: silentLogger });
  try {
    const res = await fetch(`${down.url}/v1/queues/${uniqueQueue()}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x' }) });
    assert.equal(res.status, 201);
    assert.equal((await fetch(`${down.url}/readyz`)).status, 200);
    const h = await fetch(`${down.url}/v1/history`);
    assert.equal(h.status, 503);
    assert.equal(((await h.json()) as any).error.code, 'HISTORY_UNAVAILABLE');
    const metrics = await (await fetch(`${down.url}/metrics`)).text();
    assert.match(metrics, /^conveyor_history_up 0$/m);
  } finally {
    await down.stop();
  }
});

test('without HISTORY_URL: 404 HISTORY_NOT_CONFIGURED, and the library says the same', async () => {
  const plain = await startServer({ env: testEnv(redis.url, { API_PORT: '0', LOG_LEVEL: 'silent' }), logger: silentLogger });
  try {
    const r = await fetch(`${plain.url}/v1/history`);
    assert.equal(r.status, 404);
    assert.equal(((await r.json()) as any).error.code, 'HISTORY_NOT_CONFIGURED');
    await assert.rejects(plain.conveyor.history.search(), (e) => isConveyorError(e, 'HISTORY_NOT_CONFIGURED'));
    assert.ok(coreOf(plain.conveyor).config.history === undefined);
  } finally {
    await plain.stop();
  }
});

test('bad HISTORY_* settings are CONFIG_INVALID naming the variable; the server exits 2', async () => {
  const cases: [Record<string, string>, string][] = [
    [{ HISTORY_URL: 'mysql://db/x' }, 'HISTORY_URL'],
    [{ HISTORY_URL: 'not a url' }, 'HISTORY_URL'],
    [{ HISTORY_URL: 'postgres://db/x', HISTORY_RETENTION_DAYS: '0' }, 'HISTORY_RETENTION_DAYS'],
    [{ HISTORY_URL: 'postgres://db/x', HISTORY_RETENTION_DAYS: '-3' }, 'HISTORY_RETENTION_DAYS'],
    [{ HISTORY_URL: 'postgres://db/x', HISTORY_RETENTION_DAYS: 'week' }, 'HISTORY_RETENTION_DAYS'],
    [{ HISTORY_RETENTION_DAYS: '7' }, 'HISTORY_URL'],
  ];
  for (const [env, variable] of cases) {
    assert.throws(() => loadConfig(env), (e) => isConveyorError(e, 'CONFIG_INVALID') && e.details?.variable === variable && e.message.includes(variable), JSON.stringify(env));
  }
  // Secrets stay out of the message.
  assert.throws(() => loadConfig({ HISTORY_URL: 'mysql://u:hunter2@db/x' }), (e) => isConveyorError(e) && !e.message.includes('hunter2'));
  const p = spawnConveyor('server', { REDIS_URL: redis.url, HISTORY_URL: 'postgres://db/x', HISTORY_RETENTION_DAYS: 'zero' });
  assert.equal(await p.exited, 2);
  assert.ok(p.lines.some((l) => l.raw.includes('HISTORY_RETENTION_DAYS')), p.lines.map((l) => l.raw).join('\n'));
});
