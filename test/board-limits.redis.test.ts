/**
 * The dashboard's Limits pages: a queue's limits, what the gate holds and the
 * largest key backlogs, read from Redis; a save with bad limits is refused
 * beside the field (422) and changes nothing; a good save and a clear go to
 * the store and the audit log.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { silentLogger } from '../shared/log.ts';
import { createApp } from '../dashboard/app.ts';
import { coreOf } from '../shared/conveyor.ts';

let redis: RedisProcess;
let core: Core;
let server: Server;
let base: string;

before(async () => {
  ({ redis, core } = await redisAndCore());
  const app = createApp({ queues: core.queues, inspector: core.inspector, limits: coreOf(core.conveyor).limits, logger: silentLogger, redisLabel: redis.url });
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server?.close();
  await closeRedisAndCore(redis, core);
});

async function get(path: string, cookie = ''): Promise<{ status: number; html: string; cookie: string }> {
  const res = await fetch(`${base}${path}`, { headers: cookie ? { cookie } : {} });
  const set = res.headers.getSetCookie().find((c) => c.startsWith('conveyor_session='));
  return { status: res.status, html: await res.text(), cookie: set ? set.split(';')[0]! : cookie };
}

async function post(path: string, cookie: string, csrf: string, form: Record<string, string>): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf, ...form }).toString() });
}

test('a queue view shows its limits, the jobs held and the keys with the largest backlogs', async () => {
  const q = uniqueQueue('board-limits');
  await core.conveyor.queues.setLimits(q, { rate: { max: 10, perMs: 1000 }, perKey: { concurrency: 1 } });
  for (let i = 0; i < 4; i++) await core.conveyor.enqueue(q, { name: 'x', opts: { key: 'tenant-a' } });
  await core.conveyor.enqueue(q, { name: 'x', opts: { key: 'tenant-b' } });
  const page = await get(`/limits/${q}`);
  assert.equal(page.status, 200);
  assert.match(page.html, /rate 10\/1000 ms; per key: concurrency 1/);
  assert.match(page.html, /<dd data-held>3<\/dd>/, 'tenant-a: 1 admitted, 3 held');
  assert.match(page.html, /<tr data-key="tenant-a"><td class="mono">tenant-a<\/td><td class="num">3<\/td><td class="num">1<\/td><td>at its concurrency<\/td><\/tr>/);
  const list = await get('/limits', page.cookie);
  assert.match(list.html, new RegExp(`data-queue="${q}"`));
  assert.match(list.html, /tenant-a \(3\)/);
});

test('saving limits from the dashboard: bad input is refused beside the field and changes nothing; good input is saved; clear removes them', async () => {
  const q = uniqueQueue('board-limits-save');
  await core.conveyor.queues.setLimits(q, { concurrency: 2 });
  const page = await get(`/limits/${q}`);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)?.[1];
  assert.ok(csrf, 'the page carries the CSRF token');
  const bad = await post(`/limits/${q}`, page.cookie, csrf, { limits: '{"concurrency": 0}' });
  assert.equal(bad.status, 422);
  assert.match(await bad.text(), /data-error-for="limits">limits\.concurrency: must be at least 1/);
  const notJson = await post(`/limits/${q}`, page.cookie, csrf, { limits: '{concurrency' });
  assert.equal(notJson.status, 422);
  assert.deepEqual((await core.conveyor.queues.limits(q)).limits, { concurrency: 2 }, 'nothing changed');
  const ok = await post(`/limits/${q}`, page.cookie, csrf, { limits: '{"perKey": {"concurrency": 3}}' });
  assert.equal(ok.status, 303);
  assert.deepEqual((await core.conveyor.queues.limits(q)).limits, { perKey: { concurrency: 3 } });
  const cleared = await post(`/limits/${q}/clear`, page.cookie, csrf, {});
  assert.equal(cleared.status, 303);
  assert.deepEqual((await core.conveyor.queues.limits(q)).limits, {});
  const audit = await get('/audit', page.cookie);
  assert.match(audit.html, /limits\.set/);
  assert.match(audit.html, /limits\.clear/);
  const noCsrf = await post(`/limits/${q}`, page.cookie, 'wrong', { limits: '{}' });
  assert.equal(noCsrf.status, 403);
});
