/**
 * npm start (`conveyor start`, cli/platform/start-all.ts), run the way npm runs
 * it: plain node on the compiled CLI (bin/conveyor.js → dist/), no TypeScript loader. The local-Redis path uses
 * CONVEYOR_LOCAL_REDIS_PORT / CONVEYOR_HOME so it never takes 6380 or 6379; the local history (PGlite) gets
 * CONVEYOR_LOCAL_HISTORY_PORT=0 (any free port) and a CONVEYOR_HOME of its own unless a test gives one.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { freePort } from '../shared/testing/free-port.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'conveyor.js');
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface StartAll {
  proc: ChildProcess;
  out: string[];
  err: string[];
  exited: Promise<number | string>;
  waitForOutput(what: string, re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

function tempHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'conveyor-home-'));
  cleanups.push(() => rmSync(home, { recursive: true, force: true }));
  return home;
}

function startAll(env: Record<string, string>, args: string[] = []): StartAll {
  const proc = spawn(process.execPath, [BIN, 'start', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info', SHUTDOWN_GRACE_MS: '5000', CONVEYOR_LOCAL_HISTORY_PORT: '0', ...env, CONVEYOR_HOME: env.CONVEYOR_HOME ?? tempHome() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  const err: string[] = [];
  let code: number | string | undefined;
  const exited = new Promise<number | string>((r) => proc.on('exit', (c, s) => r((code = c ?? s ?? 'unknown'))));
  const collect = (into: string[]) => {
    let partial = '';
    return (d: Buffer) => {
      partial += d.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      into.push(...parts);
      if (process.env.CONVEYOR_TEST_ECHO) for (const p of parts) process.stderr.write(`[start-all] ${p}\n`);
    };
  };
  proc.stdout!.on('data', collect(out));
  proc.stderr!.on('data', collect(err));
  cleanups.push(() => {
    if (code === undefined) proc.kill('SIGKILL');
  });
  return {
    proc,
    out,
    err,
    exited,
    waitForOutput(what, re, timeoutMs = 60_000) {
      return waitFor(what, () => {
        const text = [...out, ...err].join('\n');
        const m = text.match(re);
        if (m) return m;
        if (code !== undefined) throw new Error(`start-all exited (${code}) before ${what}:\n${text.slice(-3000)}`);
        return undefined;
      }, { timeoutMs, intervalMs: 25 });
    },
  };
}

/** Every process below pid (children, grandchildren...). */
function descendants(pid: number): number[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of rows) {
      if (parent === p) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function exitWithin(s: StartAll, ms: number): Promise<number | string> {
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
  const r = await Promise.race([s.exited, timer]);
  assert.notEqual(r, 'timeout', `start-all did not exit within ${ms} ms:\n${[...s.out, ...s.err].slice(-20).join('\n')}`);
  return r;
}

async function api(base: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

async function enqueueAndAwaitCompletion(apiUrl: string, queue: string): Promise<string> {
  const created = await api(apiUrl, `/v1/queues/${queue}/jobs`, { name: 'noop', data: { hello: 'world' } });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const id = created.json.id as string;
  await waitFor('the noop job to complete', async () => (await api(apiUrl, `/v1/queues/${queue}/jobs/${encodeURIComponent(id)}`)).json.state === 'completed', { timeoutMs: 15_000 });
  return id;
}

test('npm start with REDIS_URL: server, worker and dashboard come up, a job runs, Ctrl-C stops them all and exits 0', async () => {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const [apiPort, dashPort] = [await freePort(), await freePort()];
  const queue = uniqueQueue('start');
  const s = startAll({ REDIS_URL: redis.url, API_PORT: String(apiPort), DASHBOARD_PORT: String(dashPort), QUEUES: queue });

  await s.waitForOutput('the banner', /Press Ctrl-C to stop\./);
  const text = s.out.join('\n');
  assert.match(text, new RegExp(`API +http://127\\.0\\.0\\.1:${apiPort}\\n`));
  assert.match(text, new RegExp(`Dashboard +http://127\\.0\\.0\\.1:${dashPort}/\\n`));
  assert.match(text, new RegExp(`bull-board +http://127\\.0\\.0\\.1:${dashPort}/queues\\n`));
  assert.doesNotMatch(text, /local Redis started/);
  // every child line carries its process name
  for (const name of ['server', 'worker', 'dashboard']) assert.ok(s.out.some((l) => l.startsWith(`${name.padEnd(9)} │ `)), `a line prefixed ${name}`);

  const apiUrl = `http://127.0.0.1:${apiPort}`;
  await enqueueAndAwaitCompletion(apiUrl, queue);
  const home = await fetch(`http://127.0.0.1:${dashPort}/`);
  assert.match(await home.text(), new RegExp(`data-queue="${queue}"`));

  const tree = descendants(s.proc.pid!);
  assert.ok(tree.length >= 3, `its three children run (${tree.length} processes below npm start)`);
  s.proc.kill('SIGINT');
  assert.equal(await exitWithin(s, 30_000), 0);
  await waitFor('every child gone', () => tree.every((p) => !alive(p)), { timeoutMs: 5000 });
  // a Redis that npm start did not start keeps running
  assert.equal(await redis.client().ping(), 'PONG');
});

test('npm start without REDIS_URL runs its own Redis (AOF, noeviction, 127.0.0.1), shuts it down last and keeps the data; --json lines all parse', async () => {
  const home = tempHome();
  const redisPort = await freePort();
  const [apiPort, dashPort] = [await freePort(), await freePort()];
  const queue = uniqueQueue('local');
  const s = startAll({ CONVEYOR_LOCAL_REDIS_PORT: String(redisPort), CONVEYOR_HOME: home, API_PORT: String(apiPort), DASHBOARD_PORT: String(dashPort), QUEUES: queue }, ['--json']);
  await s.waitForOutput('the ready line', /"msg":"ready"/);

  const lines = [...s.out, ...s.err].filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, any>);
  const started = lines.find((l) => l.msg === 'local Redis started');
  assert.equal(started?.redis, `redis://127.0.0.1:${redisPort}`);
  const ready = lines.find((l) => l.msg === 'ready')!;
  assert.equal(ready.api, `http://127.0.0.1:${apiPort}`);
  assert.equal(ready.board, `http://127.0.0.1:${dashPort}/queues`);
  assert.ok(['server', 'worker', 'dashboard'].every((p) => lines.some((l) => l.proc === p)));

  const probe = new Redis({ port: redisPort, host: '127.0.0.1', maxRetriesPerRequest: 1, lazyConnect: true });
  probe.on('error', () => {});
  cleanups.push(() => probe.disconnect());
  await probe.connect();
  assert.deepEqual(await probe.config('GET', 'appendonly'), ['appendonly', 'yes']);
  assert.deepEqual(await probe.config('GET', 'maxmemory-policy'), ['maxmemory-policy', 'noeviction']);
  assert.deepEqual(await probe.config('GET', 'bind'), ['bind', '127.0.0.1']);
  assert.deepEqual(await probe.config('GET', 'dir'), ['dir', join(home, 'redis')]);
  const redisPid = Number(((await probe.info('server')).match(/process_id:(\d+)/) ?? [])[1]);
  probe.disconnect();

  const id = await enqueueAndAwaitCompletion(`http://127.0.0.1:${apiPort}`, queue);
  // The job history is on with nothing installed: PGlite under CONVEYOR_HOME/history.
  const historyStarted = lines.find((l) => l.msg === 'local history started');
  assert.match(String(historyStarted?.history), /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
  assert.match(String(ready.history), /local PGlite, data in /);
  const timeline = await waitFor('the job in the history', async () => {
    const r = await api(`http://127.0.0.1:${apiPort}`, `/v1/queues/${queue}/jobs/${encodeURIComponent(id)}/timeline`);
    return r.status === 200 && r.json.events.some((e: { type: string }) => e.type === 'completed') ? r.json : undefined;
  }, { timeoutMs: 30_000, intervalMs: 200 });
  assert.deepEqual(timeline.events.map((e: { type: string }) => e.type), ['enqueued', 'started', 'completed']);
  const tree = descendants(s.proc.pid!);
  assert.ok(tree.includes(redisPid), 'the local redis-server is a child of npm start');
  s.proc.kill('SIGINT');
  assert.equal(await exitWithin(s, 30_000), 0);
  await waitFor('every child gone, Redis included', () => tree.every((p) => !alive(p)), { timeoutMs: 5000 });
  const order = s.out.map((l) => JSON.parse(l) as Record<string, any>).map((l) => l.msg);
  assert.ok(order.indexOf('stopping Redis (SHUTDOWN writes the AOF)') > order.lastIndexOf('worker stopped'), 'Redis stops after the worker');
  assert.ok(existsSync(join(home, 'redis', 'appendonlydir')));
  assert.ok(order.indexOf('closing the local history') > order.indexOf('stopping Redis (SHUTDOWN writes the AOF)'), 'the history closes after the children, beside Redis');
  assert.ok(existsSync(join(home, 'history', 'pgdata', 'PG_VERSION')), 'the history data is in CONVEYOR_HOME/history');
  assert.ok(!existsSync(join(home, 'history', 'conveyor.pid')), 'the lock file goes at the end');

  // The data survived: a Redis on the same dir (AOF on) still has the completed job.
  const again = await startRedis({ port: redisPort, dir: join(home, 'redis'), args: ['--appendonly', 'yes'] });
  cleanups.push(() => again.stop());
  const keys = await again.client().keys(`conveyor:{${queue}}:${id}`);
  assert.equal(keys.length, 1);

  // And a Redis already answering on the port is reused, and left running at the end.
  const reuse = startAll({ CONVEYOR_LOCAL_REDIS_PORT: String(redisPort), CONVEYOR_HOME: home, API_PORT: String(apiPort), DASHBOARD_PORT: String(dashPort), QUEUES: queue });
  await reuse.waitForOutput('the banner', /Press Ctrl-C to stop\./);
  assert.match(reuse.out.join('\n'), new RegExp(`a Redis already answers on redis://127\\.0\\.0\\.1:${redisPort}: using it`));
  // The history kept the job across the restart.
  const page = await api(`http://127.0.0.1:${apiPort}`, `/v1/history?queue=${queue}`);
  assert.equal(page.status, 200, JSON.stringify(page.json));
  assert.deepEqual(page.json.jobs.map((j: { id: string; state: string }) => [j.id, j.state]), [[id, 'completed']]);
  reuse.proc.kill('SIGTERM');
  assert.equal(await exitWithin(reuse, 30_000), 0);
  assert.equal(await again.client().ping(), 'PONG');
});

test('npm start: a second one on the same CONVEYOR_HOME exits 1 (the history is in use); --no-history keeps none', async () => {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const home = tempHome();
  const apiPort = await freePort();
  const first = startAll({ REDIS_URL: redis.url, CONVEYOR_HOME: home, API_PORT: String(apiPort), DASHBOARD_PORT: String(await freePort()), QUEUES: uniqueQueue() });
  await first.waitForOutput('the banner', /Press Ctrl-C to stop\./);
  const second = startAll({ REDIS_URL: redis.url, CONVEYOR_HOME: home, API_PORT: String(await freePort()), DASHBOARD_PORT: String(await freePort()), QUEUES: uniqueQueue() });
  assert.equal(await exitWithin(second, 30_000), 1);
  assert.match(second.err.join('\n'), new RegExp(`the history data in .*history is in use by another conveyor start \\(pid ${first.proc.pid}\\)`));
  // The first one was not disturbed.
  assert.equal((await api(`http://127.0.0.1:${apiPort}`, '/v1/history')).status, 200);
  first.proc.kill('SIGTERM');
  assert.equal(await exitWithin(first, 30_000), 0);

  const port = await freePort();
  const off = startAll({ REDIS_URL: redis.url, API_PORT: String(port), DASHBOARD_PORT: String(await freePort()), QUEUES: uniqueQueue() }, ['--no-history']);
  await off.waitForOutput('the banner', /Press Ctrl-C to stop\./);
  assert.match(off.out.join('\n'), /History +off \(--no-history\)/);
  const r = await api(`http://127.0.0.1:${port}`, '/v1/history');
  assert.equal(r.status, 404);
  assert.equal(r.json.error.code, 'HISTORY_NOT_CONFIGURED');
  off.proc.kill('SIGTERM');
  assert.equal(await exitWithin(off, 30_000), 0);
});

test('npm start exits 1 naming the child that died (the API port is taken)', async () => {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
  const apiPort = (blocker.address() as { port: number }).port;
  const s = startAll({ REDIS_URL: redis.url, API_PORT: String(apiPort), DASHBOARD_PORT: String(await freePort()), QUEUES: uniqueQueue() });
  assert.equal(await exitWithin(s, 60_000), 1);
  assert.match(s.err.join('\n'), /stopping: server exited unexpectedly \(exit code \d+\)/);
});

test('npm start without REDIS_URL and without redis-server on PATH explains how to install it and exits 1', async () => {
  const emptyBin = mkdtempSync(join(tmpdir(), 'conveyor-nobin-'));
  cleanups.push(() => rmSync(emptyBin, { recursive: true, force: true }));
  const s = startAll({ PATH: emptyBin, CONVEYOR_LOCAL_REDIS_PORT: String(await freePort()), CONVEYOR_HOME: emptyBin });
  assert.equal(await exitWithin(s, 30_000), 1);
  const err = s.err.join('\n');
  assert.match(err, /redis-server was not found on PATH/);
  assert.match(err, /apt-get install redis-server/);
  assert.match(err, /brew install redis/);
});
