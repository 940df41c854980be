/**
 * npm run start:ha (scripts/start-ha.ts) run the way npm runs it, on free
 * ports (CONVEYOR_HA_BASE_PORT) and a temp CONVEYOR_HOME: six Redis processes
 * and four Conveyor processes come up, a job runs, npm run failover moves the
 * primary (old → new, timed), a job runs again, Ctrl-C stops everything and
 * exits 0, and a second run starts from the new primary.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../shared/testing/free-port.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { enqueue, waitForState } from './job-over-http.ts';

const ROOT = join(import.meta.dirname, '..');
const cleanups: (() => void | Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Script {
  proc: ChildProcess;
  lines: Record<string, any>[];
  raw: string[];
  exited: Promise<number | string>;
  line(what: string, match: (j: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
}

function run(script: string, env: Record<string, string>, args: string[] = []): Script {
  // As `npm run start:ha` runs it: node with the tsx loader, no tsx CLI in between (its signal relay
  // SIGKILLs a child that does not confirm a signal within 30 ms, which a loaded machine misses).
  const proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info', SHUTDOWN_GRACE_MS: '3000', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, any>[] = [];
  const raw: string[] = [];
  let code: number | string | undefined;
  const exited = new Promise<number | string>((r) => proc.on('exit', (c, s) => r((code = c ?? s ?? 'unknown'))));
  const collect = () => {
    let partial = '';
    return (d: Buffer) => {
      partial += d.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const p of parts) {
        raw.push(p);
        try {
          lines.push(JSON.parse(p));
        } catch {
          // not JSON
        }
      }
    };
  };
  proc.stdout!.on('data', collect());
  proc.stderr!.on('data', collect());
  // Ctrl-C first: start:ha then stops its children and its Redis nodes (SIGKILL of
  // the tsx CLI would leave the script and everything it started running).
  cleanups.push(async () => {
    if (code !== undefined) return;
    proc.kill('SIGINT');
    const late = await Promise.race([exited, new Promise((r) => setTimeout(() => r('late'), 30_000).unref())]);
    if (late === 'late') proc.kill('SIGKILL');
  });
  return {
    proc, lines, raw, exited,
    line(what, match, timeoutMs = 90_000) {
      return waitFor(what, () => {
        const l = lines.find(match);
        if (l) return l;
        if (code !== undefined) throw new Error(`${script} exited (${code}) before ${what}:\n${raw.slice(-30).join('\n')}`);
        return undefined;
      }, { timeoutMs, intervalMs: 25 });
    },
  };
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A base port whose three data ports and three Sentinel ports (base+20000) are all free. */
async function freeBase(): Promise<number> {
  for (;;) {
    // Below Linux's ephemeral range (32768-60999) for both the data nodes and the Sentinels (base + 20000):
    // a port there can be taken by any outgoing connection of the tests running beside this one.
    const base = 10_000 + Math.floor(Math.random() * 2_700);
    const ports = [0, 1, 2, 20_000, 20_001, 20_002].map((d) => base + d);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('start:ha: the topology and four processes come up, npm run failover moves the primary, jobs run before and after, Ctrl-C stops it all', async () => {
  const home = mkdtempSync(join(tmpdir(), 'conveyor-ha-home-'));
  cleanups.push(() => rmSync(home, { recursive: true, force: true }));
  const base = await freeBase();
  const queue = uniqueQueue('ha');
  const env = { CONVEYOR_HOME: home, CONVEYOR_HA_BASE_PORT: String(base), API_PORT: String(await freePort()), DASHBOARD_PORT: String(await freePort()), QUEUES: queue };
  const t0 = Date.now();
  const ha = run('scripts/start-ha.ts', env, ['--json']);
  const ready = await ha.line('the ready line', (j) => j.msg === 'ready');
  console.log(`  start:ha ready in ${Date.now() - t0} ms`);
  assert.equal(ready.redis, `redis-sentinel://127.0.0.1:${base + 20_000},127.0.0.1:${base + 20_001},127.0.0.1:${base + 20_002}#conveyor`);
  assert.equal(ready.primary, `127.0.0.1:${base}`);
  assert.deepEqual([...ready.replicas].sort(), [`127.0.0.1:${base + 1}`, `127.0.0.1:${base + 2}`]);
  assert.equal(ready.quorum, 2);
  for (const p of ['server', 'dashboard']) assert.ok(ha.lines.some((l) => l.proc === p), `${p} logged`);
  const workerPids = new Set(ha.lines.filter((l) => l.proc === 'worker' && l.msg === 'worker started').map((l) => l.pid));
  assert.equal(workerPids.size, 2, 'two worker processes');
  const started = ha.lines.find((l) => l.msg === 'Redis topology started');
  assert.equal(started?.nodes.length, 6);

  const before = await enqueue(ready.api, queue, { name: 'noop' });
  await waitForState(ready.api, queue, before, 'completed');

  const fo = run('scripts/failover.ts', { CONVEYOR_HA_BASE_PORT: String(base) }, ['--json']);
  assert.equal(await fo.exited, 0, fo.raw.join('\n'));
  const result = fo.lines.find((l) => l.from)!;
  assert.equal(result.from, `127.0.0.1:${base}`);
  assert.ok([`127.0.0.1:${base + 1}`, `127.0.0.1:${base + 2}`].includes(result.to), result.to);
  console.log(`  npm run failover: ${result.from} → ${result.to} in ${result.ms} ms`);

  const upAt = Date.now();
  let after: string | undefined;
  await waitFor('an enqueue acknowledged after the failover', async () => {
    const res = await fetch(`${ready.api}/v1/queues/${queue}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"noop"}' });
    if (res.status === 201) after = String(((await res.json()) as { id: string }).id);
    else assert.equal(res.status, 503);
    return after;
  }, { timeoutMs: 10_000, intervalMs: 50 });
  const { job } = await waitForState(ready.api, queue, after!, 'completed');
  console.log(`  a job enqueued after the failover completed ${Date.parse(job.finishedAt) - upAt} ms after it`);

  const redisPids = ha.lines.filter((l) => l.msg === 'Redis topology started').length;
  assert.equal(redisPids, 1);
  ha.proc.kill('SIGINT');
  assert.equal(await ha.exited, 0, ha.raw.slice(-20).join('\n'));
  const order = ha.lines.map((l) => l.msg);
  assert.ok(order.indexOf('stopping the Sentinels, then the data nodes (SHUTDOWN writes the AOF)') > order.lastIndexOf('worker stopped'), 'Redis stops after the workers');
  for (let i = 0; i < 3; i++) assert.ok(existsSync(join(home, 'ha', `redis-${i}`, 'appendonlydir')), `redis-${i} kept its AOF`);
  await waitFor('every port free again', async () => (await Promise.all([0, 1, 2, 20_000, 20_001, 20_002].map((d) => portFree(base + d)))).every(Boolean), { timeoutMs: 10_000 });

  // A second run starts from the primary the Sentinels chose (their configs were rewritten, and are reused).
  const again = run('scripts/start-ha.ts', env, ['--json']);
  const ready2 = await again.line('the ready line', (j) => j.msg === 'ready');
  assert.equal(ready2.primary, result.to);
  again.proc.kill('SIGINT');
  assert.equal(await again.exited, 0);
  assert.ok(!alive(again.proc.pid!));
});
