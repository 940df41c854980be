import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { testConfig, uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { spawnConveyor, listeningUrl } from '../shared/testing/processes.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { silentLogger } from '../shared/log.ts';
import { freePort } from '../shared/testing/free-port.ts';
import { createRedis, closeRedis } from '../shared/redis/connections.ts';
import { QueueSet } from '../shared/queue/queue-set.ts';
import { Inspector } from '../shared/queue/inspector.ts';
import { createApp } from '../dashboard/app.ts';

const USER = 'admin';
const PASSWORD = 'correct horse battery staple';

let redis: RedisProcess;
let core: Core;
const servers: Server[] = [];

before(async () => {
  ({ redis, core } = await redisAndCore());
});
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await closeRedisAndCore(redis, core);
});

async function serve(auth: boolean, boardRefreshMs = 0): Promise<string> {
  const app = createApp({
    queues: core.queues,
    inspector: core.inspector,
    logger: silentLogger,
    redisLabel: redis.url,
    auth: auth ? { user: USER, password: PASSWORD } : undefined,
    boardRefreshMs,
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function login(base: string, user: string, password: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) {
  return fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ user, password, ...extra }).toString(),
  });
}

/** The name=value part of the session cookie a response sets. */
function sessionCookie(res: Response): string {
  const set = res.headers.getSetCookie().find((c) => c.startsWith('conveyor_session='));
  assert.ok(set, 'a session cookie is set');
  return set.split(';')[0]!;
}

interface BoardQueue {
  name: string;
  displayName?: string;
  counts: Record<string, number>;
  readOnlyMode: boolean;
}

async function boardQueues(base: string, cookie?: string): Promise<BoardQueue[]> {
  const res = await fetch(`${base}/queues/api/queues?jobsPerPage=10&page=1`, { headers: cookie ? { cookie } : {} });
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { queues: BoardQueue[] }).queues;
}

test('without a session every page redirects to /login and the bull-board API answers 401 JSON; /healthz stays open', async () => {
  const base = await serve(true);
  const home = await fetch(`${base}/`, { redirect: 'manual', headers: { accept: 'text/html' } });
  assert.equal(home.status, 302);
  assert.equal(home.headers.get('location'), '/login?next=%2F');

  const board = await fetch(`${base}/queues`, { redirect: 'manual', headers: { accept: 'text/html' } });
  assert.equal(board.status, 302);
  assert.match(board.headers.get('location') ?? '', /^\/login\?next=/);

  const api = await fetch(`${base}/queues/api/queues`, { redirect: 'manual' });
  assert.equal(api.status, 401);
  assert.equal(((await api.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');

  const loginPage = await fetch(`${base}/login`);
  assert.equal(loginPage.status, 200);
  assert.match(await loginPage.text(), /<form[^>]+method="post"[^>]+action="\/login"/);

  assert.equal((await fetch(`${base}/healthz`)).status, 200);
});

test('a wrong password or user fails the login and sets no session; a forged cookie is refused', async () => {
  const base = await serve(true);
  for (const [u, p] of [[USER, 'wrong'], ['someone', PASSWORD], [USER, `${PASSWORD}x`], ['', '']] as const) {
    const res = await login(base, u, p);
    assert.equal(res.status, 401, `login as ${u}/${p}`);
    assert.equal(res.headers.getSetCookie().filter((c) => c.startsWith('conveyor_session=')).length, 0);
    assert.match(await res.text(), /Wrong user or password/);
  }
  const good = sessionCookie(await login(base, USER, PASSWORD));
  const [body] = good.slice('conveyor_session='.length).split('.');
  const forged = `conveyor_session=${body}.${Buffer.alloc(32).toString('base64url')}`;
  assert.equal((await fetch(`${base}/queues/api/queues`, { headers: { cookie: forged } })).status, 401);
});

test('the right password sets an HttpOnly SameSite=Strict cookie (Secure over HTTPS) and returns to the page asked for', async () => {
  const base = await serve(true);
  const res = await login(base, USER, PASSWORD, { next: '/queues' });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/queues');
  const set = res.headers.getSetCookie().find((c) => c.startsWith('conveyor_session='))!;
  assert.match(set, /HttpOnly/i);
  assert.match(set, /SameSite=Strict/i);
  assert.doesNotMatch(set, /Secure/i);

  const https = await login(base, USER, PASSWORD, {}, { 'x-forwarded-proto': 'https' });
  assert.match(https.headers.getSetCookie().find((c) => c.startsWith('conveyor_session='))!, /;\s*Secure/i);

  // a next that leaves the site is ignored
  const offsite = await login(base, USER, PASSWORD, { next: '//evil.example/x' });
  assert.equal(offsite.headers.get('location'), '/');
});

test('with a session, the overview and bull-board list the enqueued queues and their dead-letter queues', async () => {
  const q = uniqueQueue('board');
  await core.producer.enqueue(q, { name: 'noop' });
  await core.producer.enqueue(q, { name: 'noop', opts: { delay: 60_000 } });
  const base = await serve(true);
  const cookie = sessionCookie(await login(base, USER, PASSWORD));

  const home = await fetch(`${base}/`, { headers: { cookie } });
  assert.equal(home.status, 200);
  const html = await home.text();
  const row = html.match(new RegExp(`<tr data-queue="${q}">([\\s\\S]*?)</tr>`))?.[1];
  assert.ok(row, 'the overview has a row for the queue');
  // waiting, active, delayed
  assert.deepEqual([...row.matchAll(/<td class="num[^"]*">([^<]*)<\/td>/g)].slice(0, 3).map((m) => m[1]), ['1', '0', '1']);
  assert.match(html, /action="\/logout"/);

  const queues = await boardQueues(base, cookie);
  const source = queues.find((x) => x.name === `{${q}}`);
  const dead = queues.find((x) => x.name === `{${q}}.dead`);
  assert.ok(source && dead, `bull-board lists {${q}} and {${q}}.dead: ${queues.map((x) => x.name).join(', ')}`);
  assert.equal(source.displayName, q);
  assert.equal(dead.displayName, `${q} (dead letters)`);
  assert.equal(dead.readOnlyMode, true);
  assert.equal(source.counts.delayed, 1);

  // the bull-board UI itself renders under /queues with its assets
  const ui = await fetch(`${base}/queues/queue/${encodeURIComponent(`{${q}}`)}`, { headers: { cookie } });
  assert.equal(ui.status, 200);
  assert.match(await ui.text(), /<base href="\/queues\/"/);
  assert.equal((await fetch(`${base}/queues/static/images/logo.svg`, { headers: { cookie } })).status, 200);
});

test('a queue created after the board started appears in bull-board', async () => {
  const base = await serve(true, 200);
  const cookie = sessionCookie(await login(base, USER, PASSWORD));
  const later = uniqueQueue('later');
  assert.ok(!(await boardQueues(base, cookie)).some((x) => x.name === `{${later}}`));
  await core.producer.enqueue(later, { name: 'noop' });
  await waitFor('the new queue on the board', async () => (await boardQueues(base, cookie)).some((x) => x.name === `{${later}}`));
});

test('logout ends the session: the same cookie no longer opens any page', async () => {
  const base = await serve(true);
  const cookie = sessionCookie(await login(base, USER, PASSWORD));
  assert.equal((await fetch(`${base}/queues/api/queues`, { headers: { cookie } })).status, 200);
  const page = await (await fetch(`${base}/`, { headers: { cookie } })).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  assert.ok(csrf, 'pages carry the CSRF token');
  const out = await fetch(`${base}/logout`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf }).toString() });
  assert.equal(out.status, 303);
  assert.equal(out.headers.get('location'), '/login');
  assert.match(out.headers.getSetCookie().join('\n'), /conveyor_session=;/);
  assert.equal((await fetch(`${base}/queues/api/queues`, { headers: { cookie } })).status, 401);
  assert.equal((await fetch(`${base}/`, { redirect: 'manual', headers: { cookie, accept: 'text/html' } })).status, 302);
});

test('without a configured user the app needs no login', async () => {
  const q = uniqueQueue('open');
  await core.producer.enqueue(q, { name: 'noop' });
  const base = await serve(false);
  const home = await fetch(`${base}/`, { redirect: 'manual' });
  assert.equal(home.status, 200);
  const html = await home.text();
  assert.match(html, new RegExp(`data-queue="${q}"`));
  assert.doesNotMatch(html, /action="\/logout"/);
  assert.ok((await boardQueues(base)).some((x) => x.name === `{${q}}.dead`));
});

test('with Redis unreachable the overview answers 503 with Retry-After, not a hang or a 500', async () => {
  const config = testConfig(`redis://127.0.0.1:${await freePort()}`, { REDIS_COMMAND_TIMEOUT_MS: '300' });
  const conn = createRedis(config.redis, { role: 'inspector', commandTimeoutMs: config.redisCommandTimeoutMs });
  const queues = new QueueSet(conn);
  try {
    const app = createApp({ queues, inspector: new Inspector(queues), logger: silentLogger, redisLabel: config.redis.redacted });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    servers.push(server);
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const html = await fetch(`${base}/`, { headers: { accept: 'text/html' } });
    assert.equal(html.status, 503);
    assert.equal(html.headers.get('retry-after'), '5');
    assert.match(await html.text(), /Redis is unavailable/);
    const json = await fetch(`${base}/`);
    assert.equal(((await json.json()) as { error: { code: string } }).error.code, 'REDIS_UNAVAILABLE');
  } finally {
    await queues.close();
    await closeRedis(conn);
  }
});

test('dashboard/main.ts without DASHBOARD_USER warns and listens on 127.0.0.1 only; with it, on every interface', async () => {
  const open = spawnConveyor('dashboard', { REDIS_URL: redis.url, DASHBOARD_PORT: '0' });
  try {
    const url = await listeningUrl(open);
    const warning = await open.waitForLine('the no-login warning', (j) => j.level === 40 && /127\.0\.0\.1 only/.test(String(j.msg)));
    assert.match(String(warning.msg), /DASHBOARD_USER and DASHBOARD_PASSWORD are unset/);
    const listening = open.lines.find((l) => l.json?.msg === 'listening')!.json!;
    assert.equal(listening.host, '127.0.0.1');
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await fetch(`${url}/`)).status, 200);
    // If this machine has a non-loopback address, the dashboard must not answer on it.
    const external = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
    if (external) {
      const port = new URL(url).port;
      await assert.rejects(fetch(`http://${external.address}:${port}/healthz`));
    }
  } finally {
    assert.equal(await open.stop('SIGTERM'), 0);
  }

  const locked = spawnConveyor('dashboard', { REDIS_URL: redis.url, DASHBOARD_PORT: '0', DASHBOARD_USER: USER, DASHBOARD_PASSWORD: PASSWORD });
  try {
    const url = await listeningUrl(locked);
    assert.equal(locked.lines.find((l) => l.json?.msg === 'listening')!.json!.host, '0.0.0.0');
    assert.ok(!locked.lines.some((l) => /127\.0\.0\.1 only/.test(l.raw)));
    assert.equal((await fetch(`${url}/`, { redirect: 'manual' })).status, 302);
    const external = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
    if (external) assert.equal((await fetch(`http://${external.address}:${new URL(url).port}/healthz`)).status, 200);
  } finally {
    assert.equal(await locked.stop('SIGTERM'), 0);
  }
});
