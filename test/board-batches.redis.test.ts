/**
 * The dashboard's Batches pages: the list with progress and counts, one
 * batch with its callbacks and its dead jobs (errors, links to their dead
 * letters), and "Replay dead jobs" putting them back into the batch (CSRF,
 * audit), after which the batch can succeed; a workflow's page: its graph with
 * each step's state and links to the jobs, and "Replay" on a failed step.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { silentLogger } from '../shared/log.ts';
import { createApp } from '../dashboard/app.ts';
import { createWorker, type ConveyorWorker } from '../worker/index.ts';
import { stepOf } from '../shared/workflows/context.ts';

let redis: RedisProcess;
let core: Core;
let server: Server;
let base: string;
let worker: ConveyorWorker | undefined;
let other: ConveyorWorker | undefined;

before(async () => {
  ({ redis, core } = await redisAndCore());
  const app = createApp({ queues: core.queues, inspector: core.inspector, logger: silentLogger, redisLabel: redis.url });
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await worker?.stop();
  await other?.stop();
  server?.close();
  await closeRedisAndCore(redis, core);
});

async function get(path: string, cookie = ''): Promise<{ status: number; html: string; cookie: string }> {
  const res = await fetch(`${base}${path}`, { headers: cookie ? { cookie } : {} });
  const set = res.headers.getSetCookie().find((c) => c.startsWith('conveyor_session='));
  return { status: res.status, html: await res.text(), cookie: set ? set.split(';')[0]! : cookie };
}

test('the batches list and a batch page show progress, counts, callbacks and dead jobs; replaying them from there lets the batch succeed', async () => {
  const q = uniqueQueue('board-batch');
  let fixed = false;
  worker = createWorker({
    conveyor: core.conveyor,
    queues: [q],
    metrics: false,
    handlers: { work: (d: { fail?: boolean }) => { if (d?.fail && !fixed) throw new Error('the printer is on fire'); return 'ok'; }, done: () => 'done' },
  });
  await worker.start();
  const b = await core.conveyor.batches.create({
    jobs: [...Array.from({ length: 3 }, () => ({ queue: q, name: 'work', data: {} })), { queue: q, name: 'work', data: { fail: true }, opts: { attempts: 1 } }],
    onComplete: { queue: q, name: 'done' },
    onSuccess: { queue: q, name: 'done' },
    description: 'printing',
  });
  await waitFor('completed with a dead job', async () => (await core.conveyor.batches.get(b.id)).callbacks.onComplete?.enqueuedAt);
  await waitFor('its dead letter', () => core.conveyor.deadLetters.get(q, b.ids[3]!));

  const list = await get('/batches');
  assert.equal(list.status, 200);
  assert.match(list.html, new RegExp(`<tr data-batch="${b.id}">`));
  assert.match(list.html, /printing/);
  assert.match(list.html, /data-progress="100"/);
  assert.match(list.html, /<span data-counts>0 pending · 0 retrying · 3 succeeded · 1 dead<\/span>/);
  assert.match(list.html, /href="\/batches"[^>]*aria-current="page"/, 'the navigation has Batches');

  const one = await get(`/batches/${b.id}`, list.cookie);
  assert.equal(one.status, 200);
  assert.match(one.html, /badge warn">completed</);
  assert.match(one.html, new RegExp(`<tr data-dead="${b.ids[3]}"><td class="mono"><a href="/dead/${q}/${b.ids[3]}">`));
  assert.match(one.html, /the printer is on fire/);
  assert.match(one.html, /<tr data-callback="onComplete">/);
  assert.match(one.html, new RegExp(`batch-${b.id}-complete`));
  const csrf = /name="_csrf" value="([^"]+)"/.exec(one.html)?.[1];
  assert.ok(csrf, 'the replay form carries the CSRF token');

  const refused = await fetch(`${base}/batches/${b.id}/replay`, { method: 'POST', redirect: 'manual', headers: { cookie: one.cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: '_csrf=wrong' });
  assert.equal(refused.status, 403);
  fixed = true;
  const replay = await fetch(`${base}/batches/${b.id}/replay`, { method: 'POST', redirect: 'manual', headers: { cookie: one.cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf }).toString() });
  assert.equal(replay.status, 303);
  await waitFor('the batch succeeded', async () => (await core.conveyor.batches.get(b.id)).callbacks.onSuccess?.enqueuedAt);
  const after = await get(`/batches/${b.id}`, one.cookie);
  assert.match(after.html, /badge good">succeeded</);
  const audit = (await get('/audit', one.cookie)).html;
  assert.match(audit, /batch\.replay/);
  assert.match(audit, /1 dead jobs replayed/);
  assert.equal((await get('/batches/no-such-batch', one.cookie)).status, 404);
});

test('a workflow page draws its graph with each step\'s state, links to the jobs, and replays a failed step with the steps it cancelled', async () => {
  const q = uniqueQueue('board-wf');
  let broken = true;
  other = createWorker({
    conveyor: core.conveyor,
    queues: [q],
    metrics: false,
    handlers: { step: (_d: unknown, ctx) => { if (stepOf(ctx) === 'b' && broken) throw new Error('b is broken'); return 1; } },
  });
  await other.start();
  const at = { queue: q, name: 'step', opts: { attempts: 1 } };
  const wf = await core.conveyor.workflows.create({ steps: { a: at, b: { ...at, after: ['a'] }, c: { ...at, after: ['a'] }, d: { ...at, after: ['b', 'c'] } } });
  await waitFor('d cancelled', async () => (await core.conveyor.workflows.get(wf.id)).steps.d?.state === 'cancelled');
  await waitFor('the dead letters', async () => (await Promise.all(['b', 'd'].map((n) => core.conveyor.deadLetters.get(q, wf.steps[n]!)))).every(Boolean));
  const pageOf = await get(`/workflows/${wf.id}`);
  assert.equal(pageOf.status, 200);
  assert.match(pageOf.html, /<svg class="workflow-graph"/);
  for (const [n, state] of [['a', 'succeeded'], ['b', 'dead'], ['c', 'succeeded'], ['d', 'cancelled']]) assert.match(pageOf.html, new RegExp(`data-step="${n}" data-state="${state}"`), `${n} is ${state}`);
  assert.equal((pageOf.html.match(/<line class="edge"/g) ?? []).length, 4, 'one edge per dependency');
  assert.match(pageOf.html, new RegExp(`<a href="/dead/${q}/${wf.steps.b}" data-step="b"`), 'a failed step links to its dead letter');
  assert.match(pageOf.html, new RegExp(`<a href="/queues/queue/${encodeURIComponent(`{${q}}`)}/${wf.steps.a}" data-step="a"`), 'the others to their job');
  assert.match(pageOf.html, /b is broken/);
  const batchPage = await get(`/batches/${wf.id}`, pageOf.cookie);
  assert.match(batchPage.html, new RegExp(`href="/workflows/${wf.id}">Workflow graph`));
  const csrf = /name="_csrf" value="([^"]+)"/.exec(pageOf.html)?.[1];
  assert.ok(csrf);
  broken = false;
  const replay = await fetch(`${base}/workflows/${wf.id}/replay`, { method: 'POST', redirect: 'manual', headers: { cookie: pageOf.cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf, step: 'b' }).toString() });
  assert.equal(replay.status, 303);
  await waitFor('the workflow succeeded', async () => (await core.conveyor.workflows.get(wf.id)).state === 'succeeded');
  const after = await get(`/workflows/${wf.id}`, pageOf.cookie);
  assert.equal((after.html.match(/data-state="succeeded"/g) ?? []).length, 4);
  assert.match((await get('/audit', pageOf.cookie)).html, /workflow\.replay/);
});
