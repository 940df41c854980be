/**
 * End to end over HTTP with real processes: the API server and a worker as
 * children of this test, talking through a spawned Redis.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { spawnConveyor, listeningUrl, type ConveyorProcess } from '../shared/testing/processes.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';

let redis: RedisProcess;
let server: ConveyorProcess;
let url: string;
const children: ConveyorProcess[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'conveyor-e2e-'));
const q = uniqueQueue('e2e');
const qGreet = uniqueQueue('greet');
let env: Record<string, string>;

async function startWorker(extra: Record<string, string> = {}): Promise<ConveyorProcess> {
  const w = spawnConveyor('worker', { ...env, CONCURRENCY: '20', ...extra });
  children.push(w);
  await w.waitForLine('"worker started"', (j) => j.msg === 'worker started');
  return w;
}

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

const getJob = async (queue: string, id: string) => (await call('GET', `/v1/queues/${queue}/jobs/${encodeURIComponent(id)}`)).json;

before(async () => {
  redis = await startRedis();
  env = { REDIS_URL: redis.url, API_PORT: '0', QUEUES: `${q},${qGreet}`, LOCK_DURATION_MS: '3000', STALLED_INTERVAL_MS: '1000' };
  server = spawnConveyor('server', env);
  children.push(server);
  url = await listeningUrl(server);
});
after(async () => {
  for (const c of children) if (c.exitCode() === undefined) c.proc.kill('SIGKILL');
  await redis.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test('200 noop jobs enqueued over HTTP all complete, and GET job shows each completed', async () => {
  const worker = await startWorker();
  const total = 200;
  const lanes = 8;
  const ids: string[] = [];
  const started = Date.now();
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = lane; i < total; i += lanes) {
        const r = await call('POST', `/v1/queues/${q}/jobs`, { name: 'noop', data: { i } });
        assert.equal(r.status, 201);
        ids.push(r.json.id);
      }
    }),
  );
  const enqueued = Date.now();
  await waitFor('all 200 jobs completed', async () => {
    const { json } = await call('GET', '/v1/queues');
    return json.queues.find((x: { name: string }) => x.name === q)?.counts.completed === total;
  }, { timeoutMs: 30_000, intervalMs: 20 });
  const done = Date.now();
  assert.equal(new Set(ids).size, total);
  const states = await Promise.all(ids.map(async (id) => (await getJob(q, id)).state));
  assert.deepEqual(new Set(states), new Set(['completed']));
  console.log(
    `e2e: ${total} noop jobs over HTTP (${lanes} concurrent clients): enqueue ${Math.round(total / ((enqueued - started) / 1000))} req/s, ` +
      `enqueue-to-all-completed ${Math.round(total / ((done - started) / 1000))} jobs/s (${done - started} ms)`,
  );
  assert.equal(worker.exitCode(), undefined, 'the worker is still running');
});

test('a job that fails every attempt is dead, listed by GET /dead, and a replay runs it again from attempt 1', async () => {
  // Runs every attempt and fails: visible in the dead letters with its attempts and error.
  const always = await call('POST', `/v1/queues/${q}/jobs`, { name: 'fail', data: { message: 'always broken' }, opts: { attempts: 2, backoff: { type: 'fixed', delay: 50 } } });
  assert.equal(always.status, 201);
  const dead = await waitFor('job dead', async () => {
    const j = await getJob(q, always.json.id);
    return j.state === 'dead' ? j : undefined;
  }, { timeoutMs: 15_000 });
  assert.equal(dead.attemptsMade, 2);
  assert.equal(dead.failedReason, 'always broken');
  const list = await call('GET', `/v1/queues/${q}/dead`);
  assert.equal(list.status, 200);
  const listed = list.json.jobs.find((j: { id: string }) => j.id === always.json.id);
  assert.ok(listed, 'the dead job is in GET /dead');
  assert.deepEqual(listed.data, { message: 'always broken' });

  // fail {times: 1} fails attempt 1 and succeeds on any later attempt. With attempts 1 it dies.
  // A replay starts the attempt count again, so the handler sees attempt 1 again and the job
  // dies again with attemptsMade 1. Had replay carried the old count on, the handler would
  // have seen attempt 2 and succeeded: dying again is the proof that attempts restarted.
  const once = await call('POST', `/v1/queues/${q}/jobs`, { name: 'fail', data: { times: 1 }, opts: { attempts: 1 } });
  const first = await waitFor('fail-once job dead', async () => {
    const j = await getJob(q, once.json.id);
    return j.state === 'dead' ? j : undefined;
  });
  assert.equal(first.attemptsMade, 1);
  const replay = await call('POST', `/v1/queues/${q}/dead/${once.json.id}/retry`);
  assert.deepEqual(replay.json, { replayed: 1 });
  const again = await waitFor('replayed job dead again', async () => {
    const j = await getJob(q, once.json.id);
    return j.state === 'dead' && j.deadAt > first.deadAt ? j : undefined;
  });
  assert.equal(again.attemptsMade, 1, 'the replay ran one attempt, not a second one');
  assert.match(again.failedReason, /attempt 1 failed on purpose/);
  assert.ok(Date.parse(again.processedAt) > Date.parse(first.processedAt), 'it ran again');
  assert.deepEqual(again.data, { times: 1 }, 'replay kept the data');
});

test('a job with no handler dies with HANDLER_NOT_FOUND and, once a handler is deployed, a replay of all dead letters completes it', async () => {
  const r = await call('POST', `/v1/queues/${qGreet}/jobs`, { name: 'greet', data: { who: 'Ada' }, opts: { attempts: 1 } });
  const dead = await waitFor('greet dead', async () => {
    const j = await getJob(qGreet, r.json.id);
    return j.state === 'dead' ? j : undefined;
  });
  assert.match(dead.failedReason, /^HANDLER_NOT_FOUND: /);

  // "deploy" the handler: stop the worker, start one that loads it
  const old = children.filter((c) => c.kind === 'worker');
  for (const w of old) assert.equal(await w.stop('SIGTERM'), 0, 'the old worker exits 0 on SIGTERM');
  const file = join(tmp, 'greet.mjs');
  writeFileSync(file, 'export default { greet: (data) => ({ hello: data.who }) };\n');
  await startWorker({ HANDLERS: file });

  const all = await call('POST', `/v1/queues/${qGreet}/dead/retry`);
  assert.deepEqual(all.json, { replayed: 1 });
  const done = await waitFor('replayed greet completed', async () => {
    const j = await getJob(qGreet, r.json.id);
    return j.state === 'completed' ? j : undefined;
  });
  assert.deepEqual(done.returnValue, { hello: 'Ada' });
  assert.equal(done.attemptsMade, 1, 'it succeeded on its first attempt after the replay');
  assert.equal((await call('GET', `/v1/queues/${qGreet}/dead`)).json.total, 0);
});

test('without API_TOKENS the server says so and binds 127.0.0.1; with them it binds every interface and wants a token', async () => {
  const warning = server.lines.find((l) => l.json?.level === 40 && /API_TOKENS/.test(l.json.msg));
  assert.ok(warning, 'a warning names API_TOKENS');
  assert.match(warning.json!.msg, /127\.0\.0\.1 only/);
  assert.equal(server.lines.find((l) => l.json?.msg === 'listening')?.json?.host, '127.0.0.1');

  const guarded = spawnConveyor('server', { ...env, API_TOKENS: 'ci:ci-token-123456:enqueue+read' });
  children.push(guarded);
  const gurl = await listeningUrl(guarded);
  assert.equal(guarded.lines.find((l) => l.json?.msg === 'listening')?.json?.host, '0.0.0.0');
  const post = (headers: Record<string, string>) =>
    fetch(`${gurl}/v1/queues/${q}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"name":"noop"}' });
  assert.equal((await post({})).status, 401);
  assert.equal((await post({ authorization: 'Bearer ci-token-123456' })).status, 201);
  assert.equal(await guarded.stop('SIGTERM'), 0);
});

test('SIGTERM stops the server and the worker with exit code 0', async () => {
  for (const c of children) {
    if (c.exitCode() !== undefined) continue;
    assert.equal(await c.stop('SIGTERM'), 0, `${c.kind} exits 0`);
  }
  assert.ok(server.lines.some((l) => l.json?.msg === 'stopping'));
});
