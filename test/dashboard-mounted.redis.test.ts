/**
 * The dashboard mounted inside another express app under a prefix, the way
 * bull-board's adapters are: behind the host's own login (identify says who
 * is asking), with Conveyor's own login, and one router under many bases.
 * Every link, form action, asset, redirect and cookie stays under the
 * prefix, every page a link leads to answers, and the host's own routes are
 * untouched.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { get as httpGet, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { testConfig, uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { silentLogger } from '../shared/log.ts';
import { AuditLog } from '../shared/audit.ts';
import { Schedules } from '../shared/queue/schedules.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import { attachHeartbeat } from '../shared/runtime/heartbeat.ts';
import { isConveyorError } from '../shared/errors.ts';
import { dashboardRouter, type DashboardRouterDeps, type Identity } from '../dashboard/router.ts';
import { normalizeBase, safeNext } from '../dashboard/mount.ts';

const PREFIX = '/admin/conveyor';
const OPS = '/ops';
const ADMIN = { user: 'admin', password: 'admin-password-1' };
/** The host's users: alice runs the dashboard, bob may look, carol is signed in to the host but has no dashboard access. */
const HOST_USERS: Record<string, Identity | undefined> = { alice: { user: 'alice', role: 'admin' }, bob: { user: 'bob', role: 'read' }, carol: undefined };

let redis: RedisProcess;
let core: Core;
let auditLog: AuditLog;
let worker: WorkerHost;
let server: Server;
let origin: string;
const waiting = uniqueQueue('mnt');
const deadQueue = uniqueQueue('mntdead');
let deadId = '';
let waitingId = '';

/** The host's own session: a cookie naming the user (a stand-in for whatever the host really does). */
const hostUser = new WeakMap<Request, string>();
function requireLogin(req: Request, res: Response, next: NextFunction): void {
  const name = /(?:^|;\s*)host_user=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
  if (!name || !(name in HOST_USERS)) {
    res.redirect(302, '/host/login');
    return;
  }
  hostUser.set(req, name);
  next();
}

function deps(extra: Partial<DashboardRouterDeps> = {}): DashboardRouterDeps {
  return { queues: core.queues, inspector: core.inspector, logger: silentLogger, redisLabel: redis.url, boardRefreshMs: 0, ...extra };
}

before(async () => {
  ({ redis, core } = await redisAndCore());
  auditLog = new AuditLog(core.conn);
  // Something on every page: waiting jobs no worker takes (an alert with links), a dead letter,
  // a worker in the fleet, a schedule, and more audit entries than one page shows (a pager link).
  waitingId = (await core.producer.enqueue(waiting, { name: 'noop', data: { n: 1 } })).id;
  await core.producer.enqueue(waiting, { name: 'noop', data: { n: 2 } });
  const config = testConfig(redis.url, { HEARTBEAT_INTERVAL_MS: '100', HEARTBEAT_TTL_MS: '2000' });
  worker = new WorkerHost({ config, handlers: { boom: () => { throw new Error('mounted boom'); } }, logger: silentLogger, queues: [deadQueue] });
  attachHeartbeat(worker, { logger: silentLogger });
  await worker.start();
  deadId = (await core.producer.enqueue(deadQueue, { name: 'boom', opts: { attempts: 1 } })).id;
  await waitFor('the dead letter', async () => (await core.inspector.deadLetters.get(deadQueue, deadId)) !== undefined);
  await new Schedules(core.queues, core.producer).put(`s-${waiting}`, { queue: waiting, name: 'noop', cron: '0 3 * * *', tz: 'Europe/Paris' });
  for (let i = 0; i < 60; i++) await auditLog.record({ user: 'seed', role: 'system', action: 'seed.entry', outcome: 'ok' });

  const host = express();
  host.get('/', (_req, res) => {
    res.type('text').send('host home');
  });
  host.get('/host/login', (_req, res) => {
    res.type('text').send('host login page');
  });
  host.get('/admin/settings', requireLogin, (_req, res) => {
    res.type('text').send('host settings');
  });
  const mounted = dashboardRouter(deps({ identify: (req) => HOST_USERS[hostUser.get(req) ?? ''] }));
  host.use(PREFIX, requireLogin, mounted);
  // The same router again, under a prefix with a parameter: one base per tenant.
  host.use('/tenant/:tenant/conveyor', requireLogin, mounted);
  host.use(OPS, dashboardRouter(deps({ auth: { ...ADMIN } })));
  server = host.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await worker.stop();
  await closeRedisAndCore(redis, core);
});

/** A browser's cookie jar for one origin, as much as these tests need: a cookie goes only to the paths under its Path. */
class Jar {
  private readonly cookies = new Map<string, { value: string; path: string }>();
  constructor(initial: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(initial)) this.cookies.set(`/ ${k}`, { value: v, path: '/' });
  }
  take(res: globalThis.Response, requestPath: string): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';').map((x) => x.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      const path = attrs.find((a) => /^path=/i.test(a))?.slice(5) ?? (requestPath.replace(/\/[^/]*$/, '') || '/');
      const key = `${path} ${name}`;
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(key);
      else this.cookies.set(key, { value, path });
    }
  }
  header(requestPath: string): string {
    const sends = (p: string) => p === '/' || requestPath === p || requestPath.startsWith(`${p}/`);
    return [...this.cookies].filter(([, c]) => sends(c.path)).map(([k, c]) => `${k.slice(k.indexOf(' ') + 1)}=${c.value}`).join('; ');
  }
  has(name: string): boolean {
    return [...this.cookies.keys()].some((k) => k.endsWith(` ${name}`));
  }
}

async function send(path: string, jar: Jar, init: RequestInit & { headers?: Record<string, string> }): Promise<globalThis.Response> {
  const pathname = new URL(path, origin).pathname;
  const res = await fetch(`${origin}${path}`, { ...init, redirect: 'manual', headers: { cookie: jar.header(pathname), ...init.headers } });
  jar.take(res, pathname);
  return res;
}

/**
 * A page as a browser navigates to it. Node's fetch always says
 * "Sec-Fetch-Mode: cors", which the flash takes for the live refresh and
 * leaves alone, so this one goes through node:http.
 */
function navigate(path: string, jar: Jar): Promise<globalThis.Response> {
  const pathname = new URL(path, origin).pathname;
  return new Promise((resolve, reject) => {
    const req = httpGet(`${origin}${path}`, { headers: { cookie: jar.header(pathname), accept: 'text/html', 'sec-fetch-mode': 'navigate' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) for (const x of [v ?? []].flat()) headers.append(k, x);
        const out = new Response(Buffer.concat(chunks), { status: res.statusCode, headers });
        jar.take(out, pathname);
        resolve(out);
      });
    });
    req.on('error', reject);
  });
}

function get(path: string, jar: Jar, accept = 'text/html'): Promise<globalThis.Response> {
  return send(path, jar, { headers: { accept } });
}

function post(path: string, jar: Jar, body: Record<string, string>, accept = 'text/html'): Promise<globalThis.Response> {
  return send(path, jar, { method: 'POST', headers: { accept, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString() });
}

function put(path: string, jar: Jar, csrf: string): Promise<globalThis.Response> {
  return send(path, jar, { method: 'PUT', headers: { accept: 'application/json', 'x-csrf-token': csrf } });
}

async function csrfOf(base: string, jar: Jar): Promise<string> {
  const html = await (await get(`${base}/`, jar)).text();
  const csrf = /<meta name="conveyor-csrf" content="([^"]+)">/.exec(html)?.[1];
  assert.ok(csrf, 'the page carries a CSRF token');
  return csrf;
}

async function newestAudit(action: string) {
  return (await auditLog.list(0, 300)).entries.find((e) => e.action === action);
}

const unescape = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const under = (path: string, base: string) => path === base || path.startsWith(`${base}/`);
// bull-board's stylesheet asks Google Fonts for its typeface; nothing else may leave the site.
const EXTERNAL_OK = /^https:\/\/fonts\.googleapis\.com\//;

interface Ref {
  url: URL;
  method: 'get' | 'post';
  raw: string;
}

/** Every href, src and form action of a page, resolved as the browser would (bull-board's page has a <base href>). */
function refsOf(html: string, pageUrl: URL): Ref[] {
  const baseHref = /<base href="([^"]*)"/.exec(html)?.[1];
  const against = baseHref === undefined ? pageUrl : new URL(unescape(baseHref), pageUrl);
  const refs: Ref[] = [];
  for (const [, tag, attrs] of html.matchAll(/<(a|link|script|img|form)\b([^>]*)>/gi)) {
    const attr = (n: string) => new RegExp(`\\s${n}="([^"]*)"`, 'i').exec(attrs!)?.[1];
    const name = tag!.toLowerCase();
    const raw = attr(name === 'form' ? 'action' : name === 'script' || name === 'img' ? 'src' : 'href');
    if (raw === undefined) continue;
    const method = name === 'form' && (attr('method') ?? 'get').toLowerCase() === 'post' ? 'post' : 'get';
    refs.push({ url: new URL(unescape(raw), against), method, raw });
  }
  return refs;
}

/**
 * Fetches the start pages, then every page, asset and GET form their links
 * lead to, and theirs: what every link answered, which links left the base,
 * and the POST form actions seen (not followed: they change things).
 */
async function crawl(base: string, start: string[], jar: Jar): Promise<{ status: Map<string, number>; escapes: string[]; posts: Set<string>; pages: number }> {
  const status = new Map<string, number>();
  const escapes: string[] = [];
  const posts = new Set<string>();
  const todo = start.map((p) => new URL(`${origin}${p}`));
  let pages = 0;
  while (todo.length > 0 && status.size < 600) {
    const url = todo.shift()!;
    url.hash = '';
    if (status.has(url.href)) continue;
    const res = await get(`${url.pathname}${url.search}`, jar);
    status.set(url.href, res.status);
    if (!(res.headers.get('content-type') ?? '').includes('text/html')) {
      await res.arrayBuffer();
      continue;
    }
    const html = await res.text();
    pages++;
    const where = `${url.pathname}${url.search}`;
    assert.equal(/<meta name="conveyor-base" content="([^"]*)">/.exec(html)?.[1], base, `${where} tells its script the base`);
    for (const ref of refsOf(html, url)) {
      if (ref.url.origin !== origin) {
        if (!EXTERNAL_OK.test(ref.url.href)) escapes.push(`${where}: ${ref.raw} (another site)`);
      } else if (!under(ref.url.pathname, base)) {
        escapes.push(`${where}: ${ref.raw}`);
      } else if (ref.method === 'post') {
        posts.add(ref.url.pathname);
      } else {
        todo.push(ref.url);
      }
    }
  }
  return { status, escapes, posts, pages };
}

function assertCrawl(base: string, r: Awaited<ReturnType<typeof crawl>>): void {
  assert.deepEqual(r.escapes, [], 'no link, asset or form leaves the base');
  const broken = [...r.status].filter(([, s]) => s !== 200).map(([u, s]) => `${s} ${u}`);
  assert.deepEqual(broken, [], 'every link answers 200');
  const seen = [...r.status.keys()].map((u) => new URL(u)).map((u) => `${u.pathname}${u.search}`);
  const must = [
    `${base}/`, `${base}/queues`, `${base}/workers`, `${base}/dead`, `${base}/search`, `${base}/schedules`, `${base}/redis`, `${base}/audit`,
    `${base}/assets/board.css`, `${base}/assets/board.js`, `${base}/assets/favicon.svg`, `${base}/assets/bull-board-bridge.js`,
    `${base}/dead/${deadQueue}/${encodeURIComponent(deadId)}`, `${base}/audit?offset=50`, `${base}/schedules/new`,
    `${base}/queues/queue/${encodeURIComponent(`{${waiting}}`)}`,
  ];
  for (const m of must) assert.ok(seen.includes(m), `the crawl reached ${m} (saw ${r.status.size} URLs)`);
  assert.ok(seen.some((s) => s.startsWith(`${base}/queues/static/js/`)), 'bull-board\'s scripts, under the base');
  assert.ok(seen.some((s) => s.startsWith(`${base}/schedules/`) && s.endsWith('/edit')), 'a schedule\'s edit page');
  for (const p of [`${base}/queue-actions/${waiting}/pause`, `${base}/dead/bulk`, `${base}/workers/quiet`, `${base}/schedules/s-${waiting}/run`]) assert.ok(r.posts.has(p), `a form posts to ${p}`);
}

test('the base: one leading slash, no trailing one, nothing a link or cookie cannot carry; redirect targets stay under it', () => {
  assert.equal(normalizeBase(''), '');
  assert.equal(normalizeBase('/'), '');
  assert.equal(normalizeBase('/admin/conveyor'), '/admin/conveyor');
  assert.equal(normalizeBase('/admin/conveyor/'), '/admin/conveyor');
  assert.equal(normalizeBase('//evil.example/x'), '/evil.example/x', 'never a link to another site');
  assert.equal(normalizeBase('/a;b"c\\d<e>'), '/a%3Bb%22c%5Cd%3Ce%3E');
  assert.equal(normalizeBase('/t/acme%20corp'), '/t/acme%20corp', 'percent-encoding is kept as the browser sent it');

  assert.equal(safeNext('/admin/conveyor/dead?queue=x', PREFIX), '/admin/conveyor/dead?queue=x');
  assert.equal(safeNext('/admin/conveyor', PREFIX), '/admin/conveyor');
  for (const bad of ['/admin/conveyor/../other', '/admin/conveyorx', '/other', '//evil.example/x', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)', '', undefined, ['/admin/conveyor/']]) {
    assert.equal(safeNext(bad, PREFIX), `${PREFIX}/`, `next=${String(bad)}`);
  }
  assert.equal(safeNext('/queues', ''), '/queues');
  assert.equal(safeNext('//evil.example/x', ''), '/');
});

test('behind the host\'s login: every link, form action and asset of every page stays under the prefix and answers', async () => {
  const jar = new Jar({ host_user: 'alice' });
  const r = await crawl(PREFIX, [`${PREFIX}/`, `${PREFIX}/search?mode=id&q=${encodeURIComponent(waitingId)}`, `${PREFIX}/search?q=${encodeURIComponent('mounted boom')}`], jar);
  assertCrawl(PREFIX, r);
  assert.ok(r.pages >= 15, `crawled ${r.pages} pages`);
  // The search results link to the jobs: bull-board's page for a live job, Conveyor's for a dead letter.
  const seen = [...r.status.keys()].map((u) => new URL(u).pathname);
  assert.ok(seen.includes(`${PREFIX}/queues/queue/${encodeURIComponent(`{${waiting}}`)}/${encodeURIComponent(waitingId)}`));
  // Conveyor's login is off: its pages lead to the overview, and no page offers a logout.
  const login = await get(`${PREFIX}/login`, jar);
  assert.equal(login.status, 302);
  assert.equal(login.headers.get('location'), `${PREFIX}/`);
  assert.ok(![...r.status.keys()].some((u) => u.includes('/logout')));
});

test('cookies, redirects and the flash carry the prefix; an action with the CSRF token runs and is audited with the identified user', async () => {
  const jar = new Jar({ host_user: 'alice' });
  const first = await get(`${PREFIX}/`, jar);
  const csrfCookie = first.headers.getSetCookie().find((c) => c.startsWith('conveyor_csrf='));
  assert.ok(csrfCookie, 'the browser gets its CSRF id');
  assert.match(csrfCookie, /; Path=\/admin\/conveyor(;|$)/);
  assert.match(csrfCookie, /HttpOnly/i);
  assert.match(csrfCookie, /SameSite=Strict/i);
  const csrf = /<meta name="conveyor-csrf" content="([^"]+)">/.exec(await first.text())?.[1];
  assert.ok(csrf);

  const refused = await post(`${PREFIX}/queue-actions/${waiting}/pause`, jar, {});
  assert.equal(refused.status, 403, 'CSRF stays on when the host signs users in');
  assert.equal((await core.inspector.summary(waiting)).paused, false);
  assert.equal((await newestAudit('refused.csrf'))?.user, 'alice');
  // Another browser of the same user has another id, so this token is no good there.
  const other = new Jar({ host_user: 'alice' });
  await get(`${PREFIX}/`, other);
  assert.equal((await post(`${PREFIX}/queue-actions/${waiting}/pause`, other, { _csrf: csrf })).status, 403);

  const ok = await post(`${PREFIX}/queue-actions/${waiting}/pause`, jar, { _csrf: csrf });
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.get('location'), `${PREFIX}/`);
  const flash = ok.headers.getSetCookie().find((c) => c.startsWith('conveyor_flash='));
  assert.match(flash ?? '', /; Path=\/admin\/conveyor(;|$)/);
  assert.equal((await core.inspector.summary(waiting)).paused, true);
  const entry = await newestAudit('queue.pause');
  assert.equal(entry?.queue, waiting);
  assert.equal(entry?.user, 'alice');
  assert.equal(entry?.role, 'admin');

  const after = await navigate(`${PREFIX}/`, jar);
  assert.match(await after.text(), new RegExp(`Paused &quot;${waiting}&quot;`));
  assert.match(after.headers.getSetCookie().find((c) => c.startsWith('conveyor_flash=')) ?? '', /^conveyor_flash=;.*Path=\/admin\/conveyor/, 'the flash is cleared where it was set');
  assert.ok(!jar.has('conveyor_flash'));

  // bull-board's API under the prefix, the token as a header (as the bridge script sends it).
  const resume = await put(`${PREFIX}/queues/api/queues/${encodeURIComponent(`{${waiting}}`)}/resume`, jar, csrf);
  assert.ok(resume.status < 300, `bull-board resume: ${resume.status}`);
  assert.equal((await core.inspector.summary(waiting)).paused, false);
  await waitFor('the board action audited', async () => {
    const e = await newestAudit('board.put');
    return e?.queue === waiting && e.user === 'alice';
  });

  // Every other form: a worker quiet goes back to the workers page under the prefix.
  const quiet = await post(`${PREFIX}/workers/quiet`, jar, { _csrf: csrf, id: 'no-such-worker' });
  assert.equal(quiet.headers.get('location'), `${PREFIX}/workers`);
});

test('a read user sees every page and changes nothing; a user identify() does not answer for gets 401; nobody reaches it past the host\'s login', async () => {
  const bob = new Jar({ host_user: 'bob' });
  for (const p of ['/', '/workers', '/dead', '/schedules', '/redis', '/audit', '/queues']) assert.equal((await get(`${PREFIX}${p}`, bob)).status, 200, p);
  const home = await (await get(`${PREFIX}/`, bob)).text();
  assert.match(home, /read-only/);
  assert.doesNotMatch(home, /queue-actions\//, 'no pause buttons for a read user');
  const csrf = await csrfOf(PREFIX, bob);
  const res = await post(`${PREFIX}/queue-actions/${waiting}/pause`, bob, { _csrf: csrf }, 'application/json');
  assert.equal(res.status, 403);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'READ_ONLY_USER');
  const refused = await newestAudit('refused.read-only');
  assert.equal(refused?.user, 'bob');
  assert.equal(refused?.role, 'read');
  const queues = (await (await get(`${PREFIX}/queues/api/queues?page=1&jobsPerPage=10`, bob, 'application/json')).json()) as { queues: { name: string; readOnlyMode: boolean }[] };
  assert.equal(queues.queues.find((x) => x.name === `{${waiting}}`)?.readOnlyMode, true);
  const bb = await put(`${PREFIX}/queues/api/queues/${encodeURIComponent(`{${waiting}}`)}/pause`, bob, csrf);
  assert.equal(bb.status, 403);
  assert.equal((await core.inspector.summary(waiting)).paused, false);

  const carol = new Jar({ host_user: 'carol' });
  const page = await get(`${PREFIX}/`, carol);
  assert.equal(page.status, 401);
  const html = await page.text();
  assert.match(html, /<h1>Not signed in<\/h1>/);
  assert.match(html, /href="\/admin\/conveyor\/assets\/board\.css"/, 'the page is styled from under the prefix');
  assert.doesNotMatch(html, /conveyor-csrf|class="nav"/, 'no token, no navigation');
  const api = await get(`${PREFIX}/queues/api/queues`, carol, 'application/json');
  assert.equal(api.status, 401);
  assert.equal(((await api.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
  assert.equal((await post(`${PREFIX}/queue-actions/${waiting}/pause`, carol, { _csrf: csrf })).status, 401);

  const nobody = await get(`${PREFIX}/`, new Jar());
  assert.equal(nobody.status, 302);
  assert.equal(nobody.headers.get('location'), '/host/login', 'the host\'s login, not Conveyor\'s');
});

test('the host app\'s own routes are untouched: no Conveyor header, cookie or 404 page outside the prefix', async () => {
  const jar = new Jar({ host_user: 'alice' });
  for (const [path, body] of [['/', 'host home'], ['/admin/settings', 'host settings'], ['/host/login', 'host login page']] as const) {
    const res = await get(path, jar);
    assert.equal(res.status, 200, path);
    assert.equal(await res.text(), body);
    assert.equal(res.headers.get('content-security-policy'), null, `${path}: no Conveyor CSP`);
    assert.equal(res.headers.getSetCookie().length, 0, `${path}: no cookie`);
    assert.equal(res.headers.get('x-powered-by'), 'Express', 'the host\'s own settings stay its own');
  }
  for (const path of ['/nothing', '/admin/conveyorx', '/admin']) {
    const res = await get(path, jar);
    assert.equal(res.status, 404, path);
    assert.doesNotMatch(await res.text(), /Conveyor|Back to the overview/, `${path}: express's 404, not the dashboard's`);
  }
  const bare = await get(PREFIX, jar);
  assert.equal(bare.status, 200, 'the prefix without its slash is the overview');
  assert.match(await bare.text(), /<h1>Overview<\/h1>/);
  // Under the prefix an unknown path is the dashboard's, with its way back.
  const mine = await get(`${PREFIX}/nothing`, jar);
  assert.equal(mine.status, 404);
  assert.match(await mine.text(), /<a href="\/admin\/conveyor\/">Back to the overview<\/a>/);
});

test('bull-board under the prefix: its page, its assets, its API; the schedule preview the form script fetches', async () => {
  const jar = new Jar({ host_user: 'alice' });
  const ui = await get(`${PREFIX}/queues/queue/${encodeURIComponent(`{${waiting}}`)}`, jar);
  assert.equal(ui.status, 200);
  const html = await ui.text();
  assert.match(html, /<base href="\/admin\/conveyor\/queues\/"/);
  assert.match(html, /<script src="\/admin\/conveyor\/assets\/bull-board-bridge\.js"><\/script>/);
  assert.match(html, /<link rel="stylesheet" href="\/admin\/conveyor\/assets\/bull-board-bridge\.css">/);
  assert.match(html, /<meta name="conveyor-user" content="alice" data-role="admin">/, 'named, without a logout (the host signs out)');
  const uiConfig = JSON.parse(/<script id="__UI_CONFIG__" type="application\/json">([^<]*)<\/script>/.exec(html)![1]!) as { boardLogo: { path: string }; favIcon: { default: string }; miscLinks: { url: string }[] };
  assert.equal(uiConfig.boardLogo.path, `${PREFIX}/assets/favicon.svg`);
  assert.equal(uiConfig.favIcon.default, `${PREFIX}/assets/favicon.svg`);
  assert.deepEqual(uiConfig.miscLinks.map((l) => l.url), [`${PREFIX}/`]);
  assert.match(ui.headers.get('content-security-policy') ?? '', /style-src 'self' 'unsafe-inline'/, 'bull-board\'s policy under the prefix too');
  assert.equal((await get(`${PREFIX}/queues/static/images/logo.svg`, jar)).status, 200);

  const api = await get(`${PREFIX}/queues/api/queues?page=1&jobsPerPage=10`, jar, 'application/json');
  assert.equal(api.status, 200);
  const queues = ((await api.json()) as { queues: { name: string; counts: Record<string, number> }[] }).queues;
  assert.equal(queues.find((q) => q.name === `{${waiting}}`)?.counts.waiting, 2);
  assert.ok(queues.some((q) => q.name === `{${deadQueue}}.dead`));

  const preview = await get(`${PREFIX}/schedules/preview?cron=${encodeURIComponent('0 3 * * *')}&tz=UTC`, jar, 'application/json');
  assert.equal(((await preview.json()) as { nextRuns: string[] }).nextRuns.length, 5);
});

test('one router under many bases (a mount with a parameter): each base gets its own links and bull-board, more bases than the board cache keeps', async () => {
  const jar = new Jar({ host_user: 'alice' });
  const tenants = Array.from({ length: 20 }, (_, i) => `t${i}`);
  const seen = new Set<string>();
  for (const t of [...tenants, tenants[0]!, tenants[19]!]) {
    const base = `/tenant/${t}/conveyor`;
    const board = await get(`${base}/queues`, jar);
    assert.match(await board.text(), new RegExp(`<base href="${base}/queues/"`), base);
    const cookie = board.headers.getSetCookie().find((c) => c.startsWith('conveyor_csrf='));
    // Each base has its own CSRF id, set on the first visit.
    if (seen.has(t)) assert.equal(cookie, undefined, `${base}: the browser still has it`);
    else assert.match(cookie ?? '', new RegExp(`Path=${base}(;|$)`), base);
    seen.add(t);
    assert.match(await (await get(`${base}/`, jar)).text(), new RegExp(`<a href="${base}/dead">Dead letters</a>`), base);
  }
  // The router's first mount is unaffected by the others.
  assert.match(await (await get(`${PREFIX}/queues`, jar)).text(), /<base href="\/admin\/conveyor\/queues\/"/);
  // A base the client made up cannot break out of the page or the cookie.
  const odd = await get(`/tenant/${encodeURIComponent('a"b')}/conveyor/`, jar);
  assert.equal(odd.status, 200);
  assert.match(await odd.text(), /<a href="\/tenant\/a%22b\/conveyor\/dead">/);
});

test('Conveyor\'s own login under a prefix: the login, its redirects, the session cookie and logout stay under it; next cannot leave it', async () => {
  const home = await get(`${OPS}/`, new Jar());
  assert.equal(home.status, 302);
  assert.equal(home.headers.get('location'), `${OPS}/login?next=%2Fops%2F`);
  const page = await (await get(`${OPS}/login?next=%2Fops%2Fdead`, new Jar())).text();
  assert.match(page, /<form[^>]+method="post"[^>]+action="\/ops\/login"/);
  assert.match(page, /<input type="hidden" name="next" value="\/ops\/dead">/);
  assert.match(page, /href="\/ops\/assets\/board\.css"/);
  const api = await get(`${OPS}/queues/api/queues`, new Jar(), 'application/json');
  assert.equal(api.status, 401);
  assert.match(((await api.json()) as { error: { message: string } }).error.message, /POST \/ops\/login/);

  for (const [next, location] of [['/ops/dead?queue=x', '/ops/dead?queue=x'], ['/ops/../admin/settings', '/ops/'], ['//evil.example/x', '/ops/'], ['/\\evil.example', '/ops/'], ['/admin/conveyor/', '/ops/']] as const) {
    const jar = new Jar();
    const res = await post(`${OPS}/login`, jar, { ...ADMIN, next });
    assert.equal(res.status, 303, next);
    assert.equal(res.headers.get('location'), location, `next=${next}`);
    assert.match(res.headers.getSetCookie().find((c) => c.startsWith('conveyor_session='))!, /; Path=\/ops(;|$)/);
    // Logged in, the login page sends on too, under the same rule.
    assert.equal((await get(`${OPS}/login?next=${encodeURIComponent(next)}`, jar)).headers.get('location'), location);
  }

  const jar = new Jar();
  await post(`${OPS}/login`, jar, ADMIN);
  const r = await crawl(OPS, [`${OPS}/`], jar);
  assertCrawl(OPS, r);
  assert.ok(r.posts.has(`${OPS}/logout`), 'the logout form posts under the prefix');
  const csrf = await csrfOf(OPS, jar);
  const paused = await post(`${OPS}/queue-actions/${waiting}/pause`, jar, { _csrf: csrf });
  assert.equal(paused.headers.get('location'), `${OPS}/`);
  assert.equal((await newestAudit('queue.pause'))?.user, 'admin');
  await post(`${OPS}/queue-actions/${waiting}/resume`, jar, { _csrf: csrf });
  assert.equal((await core.inspector.summary(waiting)).paused, false);
  const out = await post(`${OPS}/logout`, jar, { _csrf: csrf });
  assert.equal(out.status, 303);
  assert.equal(out.headers.get('location'), `${OPS}/login`);
  assert.match(out.headers.getSetCookie().find((c) => c.startsWith('conveyor_session='))!, /^conveyor_session=;.*Path=\/ops/);
  assert.equal((await get(`${OPS}/`, jar)).status, 302);
});

test('identify together with Conveyor\'s own login users is refused when the router is built', () => {
  assert.throws(
    () => dashboardRouter(deps({ auth: ADMIN, identify: () => undefined })),
    (err: unknown) => isConveyorError(err) && err.code === 'CONFIG_INVALID',
  );
});
