/**
 * The board in a real browser (Debian's Chromium through playwright-core)
 * against a real worker process: log in, overview counts, bull-board, replay
 * two dead letters and see them complete, search by data, quiet the worker,
 * a bad cron shown inline, log out; without a session nothing opens and no
 * action runs; a POST without the CSRF token is refused. Then the board
 * mounted under a prefix of another express app, behind that app's login:
 * through its links, bull-board and one action in each, nothing leaving the
 * prefix. A screenshot of every page goes to test-artifacts/.
 *
 * Chromium is required: in CI (CI set) a missing /usr/bin/chromium fails the
 * test; elsewhere the test is skipped with a note.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { openCore, testConfig, uniqueQueue, type Core } from '../shared/testing/fixtures.ts';
import { spawnConveyor, type ConveyorProcess } from '../shared/testing/processes.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { silentLogger } from '../shared/log.ts';
import { Schedules } from '../shared/queue/schedules.ts';
import { AuditLog } from '../shared/audit.ts';
import { createApp } from '../dashboard/app.ts';
import { dashboardRouter, type Identity } from '../dashboard/router.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');
const USER = 'operator';
const PASSWORD = 'browser-test-password';

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: the browser test needs Debian's chromium (apt-get install chromium; .ci/run installs it)`);

let redis: RedisProcess;
let core: Core;
let worker: ConveyorProcess;
let server: Server;
let base: string;
let browser: Browser;
const idle = uniqueQueue('idle');
const work = uniqueQueue('work');
const tag = `acme-${Math.random().toString(36).slice(2, 8)}`;
const gate = join(mkdtempSync(join(tmpdir(), 'conveyor-gate-')), 'upstream-ready');
let dead: string[] = [];

before(async () => {
  if (!haveChromium) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  redis = await startRedis();
  core = await openCore(testConfig(redis.url));
  // A handler that fails until a file exists: the honest "fix deployed, replay" story.
  const handlers = mkdtempSync(join(tmpdir(), 'conveyor-handlers-'));
  writeFileSync(join(handlers, 'gated.mjs'), `import { existsSync } from 'node:fs';
export default async function gated(data) {
  if (!existsSync(data.gate)) throw new Error('upstream not ready: ' + data.gate + ' is missing');
  return { delivered: data.customer };
}
`);
  worker = spawnConveyor('worker', { REDIS_URL: redis.url, QUEUES: work, HANDLERS: handlers, HEARTBEAT_INTERVAL_MS: '300', HEARTBEAT_TTL_MS: '3000', CONCURRENCY: '4' });
  for (let i = 0; i < 3; i++) await core.producer.enqueue(idle, { name: 'noop', data: { i } });
  for (let i = 0; i < 2; i++) await core.producer.enqueue(idle, { name: 'noop', opts: { delay: 3_600_000 } });
  for (let i = 0; i < 3; i++) {
    const { id } = await core.producer.enqueue(work, { name: 'gated', data: { gate, customer: `${tag}-${i}` }, opts: { attempts: 1 } });
    dead.push(id);
  }
  await worker.waitForLine('"worker started"', (j) => j.msg === 'worker started');
  await waitFor('3 dead letters', async () => (await core.inspector.deadLetters.count(work)) === 3, { timeoutMs: 15_000 });
  writeFileSync(gate, 'ok'); // the fix is deployed
  await new Schedules(core.queues, core.producer).put(`nightly-${work}`, { queue: work, name: 'gated', cron: '0 3 * * *', tz: 'Europe/Paris', data: { gate, customer: 'nightly' } });

  const app = createApp({ queues: core.queues, inspector: core.inspector, logger: silentLogger, redisLabel: redis.url, redisTarget: testConfig(redis.url).redis, auth: { user: USER, password: PASSWORD }, boardRefreshMs: 0 });
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});

after(async () => {
  if (!haveChromium) return;
  await browser?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  if (worker && worker.exitCode() === undefined) await worker.stop('SIGTERM');
  await core?.close();
  await redis?.stop();
});

async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `board-${name}.png`), fullPage });
}

/** Reloads until the probe holds (pages are server-rendered; the live refresh is not relied on). */
async function reloadUntil(page: Page, what: string, probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  await waitFor(what, async () => {
    if (await probe()) return true;
    await page.reload();
    return false;
  }, { timeoutMs, intervalMs: 200 });
}

test('the board end to end in Chromium', { skip: haveChromium ? false : `${CHROMIUM} not installed (CI fails instead)` }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // Google Fonts (bull-board's stylesheet) is unreachable offline, and the 422 is the bad-cron form; anything else is a finding.
    if (m.type() === 'error' && !/fonts\.googleapis|ERR_NAME_NOT_RESOLVED|ERR_INTERNET_DISCONNECTED|status of 422/.test(m.text() + (m.location().url ?? ''))) problems.push(`console: ${m.text()}`);
  });
  page.on('dialog', (d) => void d.accept());

  // Log in (the page asked for is remembered).
  await page.goto(`${base}/workers`);
  assert.match(page.url(), /\/login\?next=%2Fworkers$/);
  await shot(page, '01-login');
  await page.fill('#user', USER);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${base}/workers`), page.click('button[type=submit]')]);

  // Overview: the counts the test enqueued.
  await page.goto(`${base}/`);
  const row = page.locator(`tr[data-queue="${idle}"] td.num`);
  assert.deepEqual((await row.allInnerTexts()).slice(0, 5), ['3', '0', '2', '0', '0']);
  assert.match(await page.locator('.alerts').innerText(), new RegExp(`${idle} has 3 waiting jobs and no live worker`));
  await shot(page, '02-overview');

  // bull-board: the queue's own page, inside Conveyor's navigation.
  await Promise.all([page.waitForURL(/\/queues\/queue\//), page.click(`tr[data-queue="${idle}"] a:text-is("${idle}")`)]);
  await page.locator('#conveyor-bar').waitFor();
  await page.getByText(idle, { exact: true }).first().waitFor();
  await page.locator('text=/waiting/i').first().waitFor();
  await shot(page, '03-bull-board-queue', false);

  // Dead letters: pick two, replay them, confirm the count, see them complete.
  await page.goto(`${base}/dead?queue=${work}`);
  assert.equal(await page.locator('tr[data-dead]').count(), 3);
  assert.match(await page.locator('table.groups').innerText(), /upstream not ready/);
  const picked = [dead[0]!, dead[2]!];
  for (const id of picked) await page.check(`input[name=job][value="${work}:${id}"]`);
  assert.equal(await page.locator('[data-selected-count]').innerText(), '2 selected');
  await shot(page, '04-dead-letters');
  await Promise.all([page.waitForURL(`${base}/dead/bulk`), page.click('button[data-needs-selection][value=replay]')]);
  assert.equal(await page.locator('[data-dry-run]').getAttribute('data-dry-run'), '2');
  assert.match(await page.locator('h1').innerText(), /Replay 2 dead letters\?/);
  await shot(page, '05-replay-confirm');
  await Promise.all([page.waitForURL(`${base}/dead`), page.click('button:has-text("Replay 2 dead letters")')]);
  assert.match(await page.locator('.flash').innerText(), /Replayed 2 dead letters/);
  for (const id of picked) {
    await page.goto(`${base}/search?mode=id&q=${encodeURIComponent(id)}`);
    await reloadUntil(page, `${id} completed`, async () => (await page.locator(`tr[data-hit="${work}:${id}"] .badge`).innerText().catch(() => '')) === 'completed');
  }
  await shot(page, '06-replayed-job-completed');
  assert.equal(await core.inspector.deadLetters.count(work), 1, 'the one not selected is still a dead letter');
  assert.equal((await core.inspector.getJob(work, dead[1]!))?.state, 'dead');

  // The one left: its detail page with payload, error and the stack of its attempt.
  await page.goto(`${base}/dead`);
  await Promise.all([page.waitForURL(/\/dead\/.+\/.+/), page.click(`tr[data-dead="${work}:${dead[1]}"] a`)]);
  assert.match(await page.locator('[data-error]').innerText(), /upstream not ready/);
  assert.match(await page.locator('pre.code').last().innerText(), /at gated|Error: upstream not ready/);
  assert.match(await page.content(), new RegExp(`${tag}-1`));
  await shot(page, '06b-dead-letter-detail');

  // Search by a substring of the data.
  await page.goto(`${base}/search`);
  await page.fill('input[name=q]', `${tag}-1`);
  await Promise.all([page.waitForURL(/\/search\?/), page.click('form[role=search] button[type=submit]')]);
  assert.equal(await page.locator('tr[data-hit]').count(), 1);
  assert.equal(await page.locator(`tr[data-hit="${work}:${dead[1]}"]`).count(), 1);
  assert.match(await page.locator('mark').first().innerText(), new RegExp(`${tag}-1`, 'i'));
  await shot(page, '07-search');

  // The worker process in the fleet; quiet it.
  await page.goto(`${base}/workers`);
  const me = page.locator('tr[data-worker]', { hasText: `:${worker.proc.pid}` });
  await me.waitFor();
  assert.equal(await me.locator('.badge').innerText(), 'running');
  await shot(page, '08-workers');
  await Promise.all([page.waitForURL(`${base}/workers`), me.locator('button:has-text("Quiet")').click()]);
  await reloadUntil(page, 'the worker reports quiet', async () => (await me.locator('.badge').innerText()) === 'quiet');
  await worker.waitForLine('the quiet command', (j) => j.msg === 'fleet command: quiet');
  await shot(page, '09-workers-quiet');

  // Schedules: edit with a bad cron, see the error beside the field.
  await page.goto(`${base}/schedules`);
  assert.equal(await page.locator(`tr[data-schedule="nightly-${work}"] ol.runs li`).count(), 5, 'next 5 runs listed');
  await shot(page, '10-schedules');
  await Promise.all([page.waitForURL(/\/edit$/), page.click(`tr[data-schedule="nightly-${work}"] a:has-text("Edit")`)]);
  await page.fill('#f-cron', '0 25 * * *');
  await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Save changes")')]);
  const err = page.locator('[data-error-for=cron]');
  assert.match(await err.innerText(), /0 25 \* \* \*/);
  assert.equal(await page.inputValue('#f-cron'), '0 25 * * *', 'the entered value is kept');
  await shot(page, '11-schedule-bad-cron');

  await page.goto(`${base}/redis`);
  await shot(page, '12-redis');
  await page.goto(`${base}/audit`);
  for (const action of ['login', 'dead.replay', 'worker.quiet', 'schedule.update']) assert.equal(await page.locator(`tr[data-action="${action}"]`).count() > 0, true, action);
  await shot(page, '13-audit');

  // A POST without the CSRF token is refused, even with the session cookie.
  const noToken = await page.request.post(`${base}/queue-actions/${idle}/pause`, { form: { x: '1' }, maxRedirects: 0 });
  assert.equal(noToken.status(), 403);
  assert.equal((await core.inspector.summary(idle)).paused, false);

  // Phone width.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/`);
  await shot(page, '14-overview-phone');
  await page.goto(`${base}/dead`);
  await shot(page, '15-dead-letters-phone');
  await page.setViewportSize({ width: 1280, height: 860 });

  // Log out: every page goes back to the login, every action is refused.
  await page.goto(`${base}/`);
  await Promise.all([page.waitForURL(/\/login$/), page.click('header form[action="/logout"] button')]);
  for (const p of ['/', '/workers', '/dead', '/search', '/schedules', '/redis', '/audit', '/queues']) {
    await page.goto(`${base}${p}`);
    assert.match(new URL(page.url()).pathname, /^\/login$/, `${p} after logout`);
  }
  for (const p of [`/queue-actions/${idle}/pause`, '/workers/stop', '/dead/bulk', '/schedules']) {
    const r = await page.request.post(`${base}${p}`, { form: { id: 'all' }, maxRedirects: 0 });
    assert.equal(r.status(), 401, `POST ${p} without a session`);
  }
  assert.equal((await page.request.put(`${base}/queues/api/queues/${encodeURIComponent(`{${idle}}`)}/pause`)).status(), 401);
  assert.equal((await core.inspector.summary(idle)).paused, false);
  assert.ok(worker.exitCode() === undefined, 'quiet did not stop the worker');

  assert.deepEqual(problems, [], 'no script error and no CSP violation on any page');
  await context.close();
});

test('the board mounted under a prefix of another app, behind its login, in Chromium', { skip: haveChromium ? false : `${CHROMIUM} not installed (CI fails instead)` }, async () => {
  const PREFIX = '/admin/conveyor';
  const q = uniqueQueue('mounted');
  await core.producer.enqueue(q, { name: 'noop', data: { mounted: true } });
  const auditLog = new AuditLog(core.conn);

  // The host: its own pages, its own login (a cookie naming the user), and the dashboard under PREFIX.
  const users: Record<string, Identity> = { alice: { user: 'alice', role: 'admin' }, bob: { user: 'bob', role: 'read' } };
  const signedIn = new WeakMap<Request, string>();
  const localPath = (v: unknown) => (typeof v === 'string' && v.startsWith('/') && !v.startsWith('//') ? v : '/');
  const host = express();
  host.get('/host/login', (req, res) => {
    res.type('html').send(`<!doctype html><title>Host login</title><link rel="icon" href="data:,"><a id="as-alice" href="/host/sign-in?user=alice&amp;next=${encodeURIComponent(localPath(req.query.next))}">Sign in as alice</a>`);
  });
  host.get('/host/sign-in', (req, res) => {
    res.cookie('host_user', String(req.query.user), { path: '/', httpOnly: true, sameSite: 'lax' });
    res.redirect(302, localPath(req.query.next));
  });
  const requireLogin = (req: Request, res: Response, next: NextFunction) => {
    const name = /(?:^|;\s*)host_user=([^;]+)/.exec(req.headers.cookie ?? '')?.[1] ?? '';
    if (!users[name]) {
      res.redirect(302, `/host/login?next=${encodeURIComponent(req.originalUrl)}`);
      return;
    }
    signedIn.set(req, name);
    next();
  };
  host.use(PREFIX, requireLogin, dashboardRouter({ queues: core.queues, inspector: core.inspector, logger: silentLogger, redisLabel: redis.url, boardRefreshMs: 0, identify: (req) => users[signedIn.get(req) ?? ''] }));
  const hostServer = host.listen(0, '127.0.0.1');
  await new Promise((r) => hostServer.once('listening', r));
  const origin = `http://127.0.0.1:${(hostServer.address() as AddressInfo).port}`;
  const at = (path: string) => `${origin}${PREFIX}${path}`;

  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  try {
    const page = await context.newPage();
    const problems: string[] = [];
    const outside: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/fonts\.googleapis|ERR_NAME_NOT_RESOLVED|ERR_INTERNET_DISCONNECTED/.test(m.text() + (m.location().url ?? ''))) problems.push(`console: ${m.text()} (${m.location().url})`);
    });
    // Every request the pages make (links, assets, bull-board's API, the scripts' fetches) stays under the prefix; the host's login pages aside.
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.origin === origin && !u.pathname.startsWith(`${PREFIX}/`) && u.pathname !== PREFIX && !u.pathname.startsWith('/host/')) outside.push(`${r.method()} ${u.pathname}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400 && new URL(r.url()).pathname.startsWith(PREFIX)) problems.push(`${r.status()} ${r.url()}`);
    });
    page.on('dialog', (d) => void d.accept());

    // The host's login, then back to the page asked for.
    await page.goto(at('/workers'));
    assert.match(page.url(), /\/host\/login\?next=/);
    await Promise.all([page.waitForURL(at('/workers')), page.click('#as-alice')]);
    await shot(page, 'mounted-01-workers');

    // Every page through the navigation bar, and the brand back to the overview.
    for (const [label, path] of [['Overview', '/'], ['Dead letters', '/dead'], ['Search', '/search'], ['Schedules', '/schedules'], ['Redis', '/redis'], ['Audit log', '/audit'], ['Workers', '/workers']] as const) {
      await Promise.all([page.waitForURL(at(path)), page.click(`header nav a:text-is("${label}")`)]);
      assert.equal(await page.locator('h1').first().innerText(), label, path);
      assert.equal(await page.locator('header .user').innerText(), 'alice');
    }
    await Promise.all([page.waitForURL(at('/')), page.click('header a.brand')]);
    assert.equal(await page.locator('header form[action$="/logout"]').count(), 0, 'the host signs users out, not Conveyor');
    await shot(page, 'mounted-02-overview');

    // bull-board from the queue's link: inside Conveyor's bar, every link of which stays under the prefix.
    await Promise.all([page.waitForURL(at(`/queues/queue/${encodeURIComponent(`{${q}}`)}`)), page.click(`tr[data-queue="${q}"] a:text-is("${q}")`)]);
    await page.locator('#conveyor-bar').waitFor();
    const barLinks = await page.locator('#conveyor-bar a').evaluateAll((els) => els.map((e) => e.getAttribute('href') ?? ''));
    assert.ok(barLinks.length >= 9 && barLinks.every((h) => h.startsWith(`${PREFIX}/`)), barLinks.join(' '));
    assert.equal(await page.locator('#conveyor-bar .cv-user').innerText(), 'alice');
    assert.equal(await page.locator('#conveyor-bar button').count(), 0);
    await page.locator('text=/waiting/i').first().waitFor();

    // An action in bull-board's own UI: pause the queue (its API under the prefix, the CSRF header from the bridge).
    await page.locator('button[class*="trigger-"]').click();
    await page.getByText('Pause', { exact: true }).click();
    const [paused] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'PUT' && r.url() === at(`/queues/api/queues/${encodeURIComponent(`{${q}}`)}/pause`)),
      page.getByRole('button', { name: 'Confirm' }).click(),
    ]);
    assert.equal(paused.status(), 200);
    assert.equal((await core.inspector.summary(q)).paused, true);
    await page.getByText('[ Paused ]').first().waitFor();
    await waitFor('the board pause audited for alice', async () => (await auditLog.list(0, 100)).entries.some((e) => e.action === 'board.put' && e.queue === q && e.user === 'alice'));
    await shot(page, 'mounted-03-bull-board-paused', false);

    // Back through the bar; resume with Conveyor's own form.
    await Promise.all([page.waitForURL(at('/')), page.click('#conveyor-bar nav a:text-is("Overview")')]);
    await Promise.all([page.waitForURL(at('/')), page.click(`tr[data-queue="${q}"] button:has-text("Resume")`)]);
    assert.match(await page.locator('.flash').innerText(), new RegExp(`Resumed "${q}"`));
    assert.equal((await core.inspector.summary(q)).paused, false);
    const resumed = (await auditLog.list(0, 100)).entries.find((e) => e.action === 'queue.resume' && e.queue === q);
    assert.equal(resumed?.user, 'alice');

    // The schedule form's script asks for its preview under the prefix too.
    await Promise.all([page.waitForURL(at('/schedules')), page.click('header nav a:text-is("Schedules")')]);
    await Promise.all([page.waitForURL(at('/schedules/new')), page.click('a:has-text("New schedule")')]);
    await Promise.all([
      page.waitForResponse((r) => r.url().startsWith(at('/schedules/preview?'))),
      page.fill('#f-cron', '61 * * * *'),
    ]);
    assert.match(await page.locator('[data-cron-preview].error').innerText(), /61/);
    await shot(page, 'mounted-04-schedule-preview');

    await Promise.all([page.waitForURL(at('/audit')), page.click('header nav a:text-is("Audit log")')]);
    assert.ok((await page.locator('tr[data-action="queue.resume"]', { hasText: 'alice' }).count()) > 0);

    // A read user of the host: no buttons, read-only in both bars.
    const bob = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    try {
      await bob.addCookies([{ name: 'host_user', value: 'bob', url: origin }]);
      const p2 = await bob.newPage();
      await p2.goto(at('/'));
      assert.equal(await p2.locator('form[action*="/queue-actions/"]').count(), 0);
      assert.match(await p2.locator('header .who').innerText(), /bob\s+read-only/);
      await p2.goto(at('/queues'));
      assert.equal(await p2.locator('#conveyor-bar .cv-user').innerText(), 'bob (read-only)');
    } finally {
      await bob.close();
    }

    assert.deepEqual(outside, [], 'no request left the prefix');
    assert.deepEqual(problems, [], 'no script error, CSP violation or failed request under the prefix');
  } finally {
    await context.close();
    hostServer.closeAllConnections();
    await new Promise((r) => hostServer.close(r));
  }
});
