/**
 * The board's safety: sessions, CSRF on every change, read-only users,
 * rate-limited logins, security headers, and an audit entry for every action.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { testConfig, uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { silentLogger } from '../shared/log.ts';
import { AuditLog } from '../shared/audit.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import { attachHeartbeat } from '../shared/runtime/heartbeat.ts';
import { createApp, type AppDeps } from '../dashboard/app.ts';

const ADMIN = { user: 'admin', password: 'admin-password-1' };
const VIEWER = { user: 'viewer', password: 'viewer-password-1' };

let redis: RedisProcess;
let core: Core;
let auditLog: AuditLog;
const servers: Server[] = [];

before(async () => {
  ({ redis, core } = await redisAndCore());
  auditLog = new AuditLog(core.conn);
});
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await closeRedisAndCore(redis, core);
});

async function serve(extra: Partial<AppDeps> = {}): Promise<string> {
  const app = createApp({
    queues: core.queues,
    inspector: core.inspector,
    logger: silentLogger,
    redisLabel: redis.url,
    auth: { ...ADMIN, readonlyUsers: [VIEWER] },
    boardRefreshMs: 0,
    ...extra,
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const form = (body: Record<string, string | string[]>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(body)) for (const x of [v].flat()) p.append(k, x);
  return p.toString();
};

async function login(base: string, who: { user: string; password: string }): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form(who) });
  assert.equal(res.status, 303, `login as ${who.user}`);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('conveyor_session='))!.split(';')[0]!;
  const html = await (await fetch(`${base}/`, { headers: { cookie, accept: 'text/html' } })).text();
  const csrf = /<meta name="conveyor-csrf" content="([^"]+)">/.exec(html)?.[1];
  assert.ok(csrf, 'the page carries a CSRF token');
  return { cookie, csrf };
}

function post(base: string, path: string, cookie: string, body: Record<string, string | string[]>, accept = 'text/html') {
  return fetch(`${base}${path}`, { method: 'POST', redirect: 'manual', headers: { cookie, accept, 'content-type': 'application/x-www-form-urlencoded' }, body: form(body) });
}

async function newestAudit(action: string) {
  return (await auditLog.list(0, 200)).entries.find((e) => e.action === action);
}

const PAGES = ['/', '/workers', '/dead', '/search?q=x', '/schedules', '/schedules/new', '/redis', '/audit', '/queues'];

test('without a session every page redirects to /login and every action is refused', async () => {
  const base = await serve();
  for (const p of PAGES) {
    const res = await fetch(`${base}${p}`, { redirect: 'manual', headers: { accept: 'text/html' } });
    assert.equal(res.status, 302, p);
    assert.match(res.headers.get('location') ?? '', /^\/login\?next=/, p);
  }
  const q = uniqueQueue('nosession');
  await core.producer.enqueue(q, { name: 'noop' });
  for (const p of [`/queue-actions/${q}/pause`, '/workers/quiet', '/workers/stop', '/dead/bulk', '/schedules', '/schedules/x/delete']) {
    const res = await fetch(`${base}${p}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'id=all' });
    assert.equal(res.status, 401, p);
  }
  assert.equal((await fetch(`${base}/queues/api/queues/${encodeURIComponent(`{${q}}`)}/pause`, { method: 'PUT' })).status, 401);
  assert.equal((await core.inspector.summary(q)).paused, false);
});

test('a POST without the CSRF token (or with a wrong one) is refused and audited; with it the action runs and is audited', async () => {
  const base = await serve();
  const { cookie, csrf } = await login(base, ADMIN);
  const q = uniqueQueue('csrf');
  await core.producer.enqueue(q, { name: 'noop' });

  const none = await post(base, `/queue-actions/${q}/pause`, cookie, {});
  assert.equal(none.status, 403);
  assert.match(await none.text(), /CSRF/);
  const wrong = await post(base, `/queue-actions/${q}/pause`, cookie, { _csrf: `${csrf}x` }, 'application/json');
  assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, 'CSRF_TOKEN_INVALID');
  assert.equal((await core.inspector.summary(q)).paused, false);
  const refused = await newestAudit('refused.csrf');
  assert.equal(refused?.user, 'admin');
  assert.equal(refused?.outcome, 'refused');

  const sentAt = Date.now();
  const ok = await post(base, `/queue-actions/${q}/pause`, cookie, { _csrf: csrf });
  const answeredAt = Date.now();
  assert.equal(ok.status, 303);
  assert.equal((await core.inspector.summary(q)).paused, true);
  const entry = await newestAudit('queue.pause');
  assert.equal(entry?.queue, q);
  assert.equal(entry?.user, 'admin');
  assert.equal(entry?.outcome, 'ok');
  // Stamped while the request was served (ms granularity both sides), however long it took.
  const at = Date.parse(entry!.at);
  assert.ok(at >= sentAt - 1 && at <= answeredAt + 1, `audit time ${entry!.at} within the request`);

  // bull-board's own API: the token comes as a header (the bridge script adds it).
  const bb = `${base}/queues/api/queues/${encodeURIComponent(`{${q}}`)}/resume`;
  assert.equal((await fetch(bb, { method: 'PUT', headers: { cookie } })).status, 403);
  assert.equal((await core.inspector.summary(q)).paused, true);
  const res = await fetch(bb, { method: 'PUT', headers: { cookie, 'x-csrf-token': csrf } });
  assert.ok(res.status < 300, `bull-board resume: ${res.status}`);
  assert.equal((await core.inspector.summary(q)).paused, false);
  await waitFor('the board action audited', async () => (await newestAudit('board.put'))?.queue === q);
});

test('a read-only user sees every page and can change nothing', async () => {
  const base = await serve();
  const { cookie, csrf } = await login(base, VIEWER);
  for (const p of PAGES) {
    const res = await fetch(`${base}${p}`, { headers: { cookie, accept: 'text/html' } });
    assert.equal(res.status, 200, p);
  }
  const home = await (await fetch(`${base}/`, { headers: { cookie, accept: 'text/html' } })).text();
  assert.match(home, /read-only/);
  assert.doesNotMatch(home, /queue-actions\//, 'no pause buttons for a read-only user');
  const q = uniqueQueue('ro');
  await core.producer.enqueue(q, { name: 'noop' });
  const res = await post(base, `/queue-actions/${q}/pause`, cookie, { _csrf: csrf }, 'application/json');
  assert.equal(res.status, 403);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'READ_ONLY_USER');
  assert.equal((await core.inspector.summary(q)).paused, false);
  // bull-board: its read-only board, and its API refuses writes too.
  const queues = (await (await fetch(`${base}/queues/api/queues?page=1&jobsPerPage=10`, { headers: { cookie } })).json()) as { queues: { name: string; readOnlyMode: boolean }[] };
  assert.equal(queues.queues.find((x) => x.name === `{${q}}`)?.readOnlyMode, true);
  assert.equal((await fetch(`${base}/queues/api/queues/${encodeURIComponent(`{${q}}`)}/pause`, { method: 'PUT', headers: { cookie, 'x-csrf-token': csrf } })).status, 403);
  assert.equal((await core.inspector.summary(q)).paused, false);
  const refused = await newestAudit('refused.read-only');
  assert.equal(refused?.user, 'viewer');
  assert.equal(refused?.role, 'read');
});

test('failed logins are rate limited per address and user (429 with Retry-After, even for the right password) and audited', async () => {
  const base = await serve({ loginLimit: { max: 3, windowMs: 60_000 } });
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form({ user: 'admin', password: `guess-${i}` }) });
    assert.equal(res.status, 401);
  }
  const limited = await fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form(ADMIN) });
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get('retry-after')) > 0);
  assert.match(await limited.text(), /Too many failed logins/);
  assert.equal(limited.headers.getSetCookie().length, 0);
  assert.equal((await newestAudit('login.failed'))?.target, 'admin');
  assert.equal((await newestAudit('login.limited'))?.outcome, 'refused');
});

test('pages and the board carry security headers; Conveyor pages allow no inline script or style', async () => {
  const base = await serve();
  const { cookie } = await login(base, ADMIN);
  const pageRes = await fetch(`${base}/`, { headers: { cookie, accept: 'text/html' } });
  const csp = pageRes.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /style-src 'self'(;|$)/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(pageRes.headers.get('x-frame-options'), 'DENY');
  assert.equal(pageRes.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(pageRes.headers.get('cache-control'), 'no-store');
  const html = await pageRes.text();
  assert.doesNotMatch(html, /<script>|<script(?![^>]*\bsrc=)[^>]*>|\sstyle="|\son[a-z]+="/i, 'no inline script, style attribute or event handler');
  const board = await fetch(`${base}/queues`, { headers: { cookie, accept: 'text/html' } });
  assert.match(board.headers.get('content-security-policy') ?? '', /style-src 'self' 'unsafe-inline'/);
  const boardHtml = await board.text();
  assert.match(boardHtml, /<script src="\/assets\/bull-board-bridge\.js"><\/script>/);
  assert.equal((await fetch(`${base}/assets/board.css`)).status, 200, 'assets need no session');
});

test('quiet from the workers page reaches a real worker, and the audit log names who did it', async () => {
  const q = uniqueQueue('wq');
  const config = testConfig(redis.url, { HEARTBEAT_INTERVAL_MS: '100', HEARTBEAT_TTL_MS: '1000' });
  const host = new WorkerHost({ config, handlers: {}, logger: silentLogger, queues: [q] });
  attachHeartbeat(host, { logger: silentLogger });
  await host.start();
  try {
    const base = await serve();
    const { cookie, csrf } = await login(base, ADMIN);
    await waitFor('worker on the page', async () => (await (await fetch(`${base}/workers`, { headers: { cookie, accept: 'text/html' } })).text()).includes(`data-worker="${host.id}"`));
    const res = await post(base, '/workers/quiet', cookie, { _csrf: csrf, id: host.id });
    assert.equal(res.status, 303);
    await waitFor('worker quiet on the page', async () => /badge warn">quiet</.test(await (await fetch(`${base}/workers`, { headers: { cookie, accept: 'text/html' } })).text()));
    const entry = await newestAudit('worker.quiet');
    assert.equal(entry?.target, host.id);
    assert.equal(entry?.count, 1);
  } finally {
    await host.stop();
  }
});

test('a schedule saved with a bad cron answers 422 with the error beside the cron field, and nothing is stored', async () => {
  const base = await serve();
  const { cookie, csrf } = await login(base, ADMIN);
  const q = uniqueQueue('sched');
  const res = await post(base, '/schedules', cookie, { _csrf: csrf, id: `s-${q}`, queue: q, name: 'noop', cron: '61 * * * *', tz: 'UTC', data: '', attempts: '' });
  assert.equal(res.status, 422);
  const html = await res.text();
  assert.match(html, /<div class="error" id="e-cron" role="alert" data-error-for="cron">[^<]*61/);
  assert.match(html, /value="61 \* \* \* \*"/, 'the entered value is kept');
  const list = await (await fetch(`${base}/schedules`, { headers: { cookie, accept: 'text/html' } })).text();
  assert.doesNotMatch(list, new RegExp(`s-${q}`));

  const good = await post(base, '/schedules', cookie, { _csrf: csrf, id: `s-${q}`, queue: q, name: 'noop', cron: '*/5 * * * *', tz: 'Europe/Paris', data: '{"a":1}', attempts: '2' });
  assert.equal(good.status, 303);
  assert.equal((await newestAudit('schedule.create'))?.target, `s-${q}`);
  const badTz = await post(base, `/schedules/s-${q}`, cookie, { _csrf: csrf, queue: q, name: 'noop', cron: '*/5 * * * *', tz: 'Mars/Olympus', data: '', attempts: '' });
  assert.equal(badTz.status, 422);
  assert.match(await badTz.text(), /data-error-for="tz">[^<]*Mars\/Olympus/);
});

test('the audit list is capped', async () => {
  const small = new AuditLog(core.conn, { cap: 5 });
  for (let i = 0; i < 8; i++) await small.record({ user: 't', role: 'admin', action: `cap.${i}`, outcome: 'ok' });
  const { entries, total } = await small.list(0, 50);
  assert.equal(total, 5);
  assert.deepEqual(entries.map((e) => e.action), ['cap.7', 'cap.6', 'cap.5', 'cap.4', 'cap.3']);
});
