/**
 * Dashboard login state shared by every dashboard process through Redis:
 * the failed-login limit and logouts hold across processes behind a
 * balancer, not only in the one that saw them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { type Core, redisAndCore, closeRedisAndCore, openCore, testConfig } from '../shared/testing/fixtures.ts';
import { silentLogger } from '../shared/log.ts';
import { keys } from '../shared/queue/names.ts';
import { createApp } from '../dashboard/app.ts';
import { LoginLimiter } from '../dashboard/login-limiter.ts';

const USER = 'admin';
const PASSWORD = 'correct horse battery staple';
const SECRET = 'one-secret-for-every-dashboard-process';

let redis: RedisProcess;
let core: Core;
let other: Core;
const servers: Server[] = [];

before(async () => {
  ({ redis, core } = await redisAndCore());
  // A second dashboard process: its own connection to the same Redis.
  other = await openCore(testConfig(redis.url));
});
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await other.close();
  await closeRedisAndCore(redis, core);
});

async function dashboard(c: Core, loginLimit?: { max: number; windowMs: number }): Promise<string> {
  const app = createApp({ queues: c.queues, inspector: c.inspector, logger: silentLogger, redisLabel: redis.url, auth: { user: USER, password: PASSWORD, sessionSecret: SECRET }, loginLimit });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function login(base: string, user: string, password: string): Promise<Response> {
  return fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ user, password }).toString() });
}

function sessionCookie(res: Response): string {
  const set = res.headers.getSetCookie().find((c) => c.startsWith('conveyor_session='));
  assert.ok(set, `a session cookie is set (status ${res.status})`);
  return set.split(';')[0]!;
}

test('login limiter: refuses after max failures per address or per user, until the window passes; success clears the address', async () => {
  let now = 1_000_000;
  const l = new LoginLimiter(core.conn, { max: 3, windowMs: 60_000, now: () => now });
  const ip = `10.0.0.${Math.floor(Math.random() * 250)}`;
  for (let i = 0; i < 3; i++) {
    assert.equal(await l.retryAfterMs(ip, 'alice'), 0);
    await l.fail(ip, 'alice');
    now += 10;
  }
  assert.equal(await l.retryAfterMs(ip, 'alice'), 60_000 - 30);
  assert.ok((await l.retryAfterMs('10.9.9.9', 'ALICE')) > 0, 'the user is limited from any address, whatever the case of the name');
  assert.ok((await l.retryAfterMs(ip, 'other')) > 0, 'the address is limited for any user');
  assert.equal(await l.retryAfterMs('10.9.9.9', 'other'), 0);
  now += 60_000;
  assert.equal(await l.retryAfterMs(ip, 'alice'), 0, 'failures leave the window');
  await l.fail('10.3.3.3', 'x');
  await l.fail('10.3.3.3', 'y');
  await l.succeed('10.3.3.3');
  await l.fail('10.3.3.3', 'z');
  assert.equal(await l.retryAfterMs('10.3.3.3', 'w'), 0, 'a success cleared the address');
  // The records expire with the window: nothing is kept for ever.
  const ttl = await core.conn.pttl(keys.loginFailures('user:alice'));
  assert.ok(ttl > 0 && ttl <= 60_000, `expires (pttl ${ttl})`);
});

test('failed logins on one dashboard process count on the other: the limit holds behind a balancer', async () => {
  const limit = { max: 3, windowMs: 60_000 };
  const [a, b] = await Promise.all([dashboard(core, limit), dashboard(other, limit)]);
  const user = `ops-${Math.random().toString(36).slice(2, 8)}`;
  for (const base of [a, b, a]) assert.equal((await login(base, user, 'wrong')).status, 401);
  const refused = await login(b, user, 'wrong');
  assert.equal(refused.status, 429, 'the fourth try, on the other process, is refused');
  assert.ok(Number(refused.headers.get('retry-after')) > 0);
});

test('logout on one dashboard process ends the session on every process', async () => {
  const [a, b] = await Promise.all([dashboard(core), dashboard(other)]);
  const cookie = sessionCookie(await login(a, USER, PASSWORD));
  assert.equal((await fetch(`${b}/queues/api/queues`, { headers: { cookie } })).status, 200, 'the other process accepts the cookie (same session secret)');
  const page = await (await fetch(`${a}/`, { headers: { cookie } })).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  assert.ok(csrf);
  const out = await fetch(`${a}/logout`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf }).toString() });
  assert.equal(out.status, 303);
  assert.equal((await fetch(`${b}/queues/api/queues`, { headers: { cookie } })).status, 401, 'the other process refuses it now');
  assert.equal((await fetch(`${a}/queues/api/queues`, { headers: { cookie } })).status, 401);
  // A new login works again, on either process.
  const again = sessionCookie(await login(b, USER, PASSWORD));
  assert.equal((await fetch(`${a}/queues/api/queues`, { headers: { cookie: again } })).status, 200);
});
