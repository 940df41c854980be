/**
 * `conveyor worker --processes N` (worker/supervisor.ts) with real processes:
 * the children in the fleet under their supervisor, a killed child forked
 * again (cause crash, counted in /metrics), a crash loop stopping the
 * supervisor with exit 1, a child past WORKER_MAX_RSS_MB replaced without
 * failing its jobs, a fleet "stop all" ending the supervisor, bad values
 * exiting 2, and the zero-loss deploy: under 500 jobs/s a rolling restart
 * (SIGHUP) of 3 processes, then SIGTERM of the supervisor while jobs run —
 * every acknowledged job runs exactly once (counted in a Redis outside the
 * platform) and no attempt fails.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { spawnConveyor, type ConveyorProcess } from '../shared/testing/processes.ts';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { redisAndCore, closeRedisAndCore, uniqueQueue, type Core } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { Fleet, type WorkerBeat } from '../shared/queue/fleet.ts';
import { workersBody } from '../dashboard/pages/workers.ts';
import { runCliCaptured } from './cli-capture.ts';

const ROOT = join(import.meta.dirname, '..');
const HANDLERS = join(import.meta.dirname, 'fixtures', 'supervisor-handlers.ts');

let redis: RedisProcess;
let counter: RedisProcess;
let counterConn: Redis;
let core: Core;
let fleet: Fleet;
const children: ConveyorProcess[] = [];

before(async () => {
  ({ redis, core } = await redisAndCore());
  counter = await startRedis();
  counterConn = new Redis(counter.url);
  fleet = new Fleet(core.conn);
});
after(async () => {
  await Promise.allSettled(children.map((c) => c.stop('SIGKILL')));
  counterConn?.disconnect();
  await counter?.stop();
  await closeRedisAndCore(redis, core);
});

function supervisor(queue: string, env: Record<string, string>): ConveyorProcess {
  const p = spawnConveyor('worker', {
    REDIS_URL: redis.url,
    QUEUES: queue,
    HANDLERS,
    SUP_TEST_REDIS: counter.url,
    HEARTBEAT_INTERVAL_MS: '200',
    SHUTDOWN_GRACE_MS: '10000',
    LOCK_DURATION_MS: '10000',
    CONCURRENCY: '20',
    ...env,
  });
  children.push(p);
  return p;
}

const started = (p: ConveyorProcess) => p.waitForLine('"supervisor started"', (j) => j.msg === 'supervisor started', 60_000);

async function fleetOf(queue: string): Promise<WorkerBeat[]> {
  return (await fleet.list()).filter((w) => w.queues.includes(queue));
}

async function metricsText(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

test('bad --processes and WORKER_MAX_RSS_MB values exit 2 naming the value, before anything starts', async () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), ...args], { env: { PATH: process.env.PATH ?? '', REDIS_URL: redis.url, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('exit', (code) => resolve({ code, stderr }));
    });
  const zero = await run(['worker', '--processes', '0']);
  assert.equal(zero.code, 2);
  assert.match(zero.stderr, /--processes "0" is invalid/);
  const word = await run(['worker', '--processes', 'many']);
  assert.equal(word.code, 2);
  assert.match(word.stderr, /--processes "many" is invalid.*auto/);
  const env = await run(['worker'], { WORKER_PROCESSES: '-3' });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /WORKER_PROCESSES="-3" is invalid/);
  const rss = await run(['worker', '--processes', '2'], { WORKER_MAX_RSS_MB: '16' });
  assert.equal(rss.code, 2);
  assert.match(rss.stderr, /WORKER_MAX_RSS_MB="16" is invalid: expected a number from 128/);
  // Nothing joined the fleet.
  assert.equal((await fleet.list()).length, 0);
});

test('three children in the fleet under their supervisor; a killed child is forked again (cause crash) and counted in /metrics', async () => {
  const q = uniqueQueue('sup');
  const sup = supervisor(q, { WORKER_PROCESSES: '3', METRICS_PORT: '0', METRICS_HOST: '127.0.0.1' });
  const { port } = await sup.waitForLine('metrics listening', (j) => j.msg === 'metrics listening' && j.proc === 'supervisor');
  const up = await started(sup);
  const supPid = sup.proc.pid!;
  assert.equal(up.pids.length, 3);

  const three = await waitFor('3 children in the fleet', async () => {
    const ws = await fleetOf(q);
    return ws.length === 3 ? ws : undefined;
  });
  for (const w of three) {
    assert.equal(w.supervisor?.pid, supPid);
    assert.equal(w.supervisor?.processes, 3);
  }
  assert.deepEqual(three.map((w) => w.supervisor!.slot).sort(), [1, 2, 3]);
  assert.deepEqual(new Set(three.map((w) => w.pid)), new Set(up.pids));

  // Ready, and /metrics carries the children's metrics (3 × CONCURRENCY 20) beside the supervisor's own.
  const ready = await waitFor('/readyz 200', async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined));
  assert.ok(ready);
  const before = await metricsText(port);
  assert.match(before, /^conveyor_worker_concurrency 60$/m);
  assert.match(before, /^conveyor_worker_restarts_total\{cause="crash"\} 0$/m);
  assert.match(before, /^conveyor_supervisor_processes 3$/m);
  // A queue gauge read from Redis by each child is taken once, not summed.
  await core.conveyor.enqueue(q, { name: 'record', data: {}, opts: { delay: 60_000 } });
  await waitFor('one delayed job counted once', async () => /^conveyor_queue_jobs\{queue="[^"]+",state="delayed"\} 1$/m.test(await metricsText(port)) || undefined);

  const victim = three.find((w) => w.supervisor!.slot === 2)!;
  process.kill(victim.pid, 'SIGKILL');
  const restarted = await sup.waitForLine('slot 2 restarted', (j) => j.msg === 'worker process 2 restarted (crash)');
  assert.equal(restarted.cause, 'crash');
  assert.equal(restarted.detail, 'signal SIGKILL');
  const after = await waitFor('3 children again, the new one reporting the crash', async () => {
    const ws = await fleetOf(q);
    return ws.length === 3 && !ws.some((w) => w.pid === victim.pid) && ws.every((w) => w.supervisor?.restarts.crash === 1) ? ws : undefined;
  }, { timeoutMs: 30_000 });
  assert.equal(after.find((w) => w.supervisor!.slot === 2)!.supervisor!.lastRestart?.cause, 'crash');
  // The fleet view: the three under one header naming the supervisor and its restart; the CLI's SUPERVISOR column.
  const html = workersBody(after, { base: '', user: 'test', role: 'admin' } as never, Date.now());
  assert.equal(html.match(/<tr class="group"/g)?.length, 1);
  assert.match(html, new RegExp(`supervisor pid</span> <span class="mono">${supPid}</span> <span class="faint">· 3 of 3 processes ·</span> <span class="bad-text">1 restart: 1 crash</span>`));
  assert.match(html, /last: process 2, crash \(signal SIGKILL\)/);
  for (const slot of [1, 2, 3]) assert.match(html, new RegExp(`process ${slot} of 3`));
  const cli = await runCliCaptured({ REDIS_URL: redis.url }, ['workers']);
  for (const w of after) assert.match(cli.stdout, new RegExp(`${w.id}.*pid ${supPid} #${w.supervisor!.slot}/3, 1 crash`));
  assert.match(await metricsText(port), /^conveyor_worker_restarts_total\{cause="crash"\} 1$/m);

  assert.equal(await sup.stop('SIGTERM'), 0);
  await waitFor('the fleet empty', async () => ((await fleetOf(q)).length === 0 ? true : undefined));
});

test('a crash loop (each child crashes soon after it starts) stops the supervisor with exit 1, naming the slot and the exit', async () => {
  const q = uniqueQueue('loop');
  const sup = supervisor(q, { WORKER_PROCESSES: '1', SUP_CRASH_AFTER_MS: '300' });
  const code = await sup.exited;
  assert.equal(code, 1);
  const fatal = sup.lines.find((l) => l.raw.startsWith('conveyor worker: crash loop'));
  assert.ok(fatal, sup.lines.slice(-10).map((l) => l.raw).join('\n'));
  assert.match(fatal.raw, /worker process 1 crashed 5 times within 60 s \(last: exit code 3\)/);
  // Four restarts, each after a longer backoff.
  const waits = sup.lines.filter((l) => l.json?.msg === 'worker process crashed; forking it again after a backoff').map((l) => l.json!.restartInMs);
  assert.deepEqual(waits, [500, 1000, 2000, 4000]);
});

test('a child past WORKER_MAX_RSS_MB is replaced: the new one starts first, the old one finishes its jobs; none fails', async () => {
  const q = uniqueQueue('rss');
  const sup = supervisor(q, { WORKER_PROCESSES: '1', WORKER_MAX_RSS_MB: '300', CONCURRENCY: '1' });
  const up = await started(sup);
  const firstPid = up.pids[0];
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await core.conveyor.enqueue(q, { name: 'leak', data: { mb: 40 } })).id);
  const replaced = await sup.waitForLine('a memory restart', (j) => j.msg === 'worker process 1 restarted (memory)', 60_000);
  assert.match(replaced.detail, /^RSS \d+ MB over WORKER_MAX_RSS_MB=300$/);
  await sup.waitForLine('the old child exiting cleanly', (j) => j.msg === 'worker process exited' && j.pid === firstPid && j.code === 0 && j.expected === true);
  // Every leak job completed (on one process or the next); none failed.
  const queue = core.queues.source(q);
  await waitFor('all 5 completed', async () => ((await queue.getCompletedCount()) === 5 ? true : undefined), { timeoutMs: 30_000 });
  assert.equal(await queue.getFailedCount(), 0);
  const ws = await waitFor('the new child beating', async () => {
    const w = await fleetOf(q);
    return w.length === 1 && w[0]!.pid !== firstPid && w[0]!.supervisor?.restarts.memory === 1 ? w : undefined;
  });
  assert.equal(ws[0]!.supervisor!.lastRestart?.cause, 'memory');
  assert.equal(await sup.stop('SIGTERM'), 0);
  void ids;
});

test('a fleet "stop all" stops every child of the supervisor and the supervisor with them (exit 0)', async () => {
  const q = uniqueQueue('stopall');
  const sup = supervisor(q, { WORKER_PROCESSES: '2' });
  await started(sup);
  await waitFor('2 children beating', async () => ((await fleetOf(q)).length === 2 ? true : undefined));
  const targets = (await fleet.list()).filter((w) => w.queues.includes(q)).map((w) => w.id);
  for (const id of targets) await fleet.command('stop', id, 'test');
  assert.equal(await sup.exited, 0);
  assert.ok(sup.lines.some((l) => l.json?.reason === 'every worker process was stopped from the fleet view'));
});

test('zero-loss deploy under 500 jobs/s: a rolling restart of 3 processes, then SIGTERM while jobs run; every acknowledged job runs once, none fails', { timeout: 120_000 }, async () => {
  const q = uniqueQueue('deploy');
  await counterConn.del('suptest:runs', 'suptest:pid');
  const sup = supervisor(q, { WORKER_PROCESSES: '3' });
  const up = await started(sup);
  const acked: string[] = [];
  let producing = true;
  let enqueueErrors = 0;
  // 500 jobs/s: 5 every 10 ms, each job 5-25 ms of work. An id counts once its enqueue resolved.
  const producer = (async () => {
    let tick = 0;
    const t0 = Date.now();
    while (producing) {
      const batch = Array.from({ length: 5 }, () =>
        core.conveyor.enqueue(q, { name: 'record', data: { ms: 5 + Math.floor(Math.random() * 20) } }).then(
          (j) => void acked.push(j.id),
          () => void enqueueErrors++,
        ),
      );
      await Promise.all(batch);
      tick++;
      const next = t0 + tick * 10;
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    }
  })();
  // Jobs are flowing through all three.
  await waitFor('jobs run on 3 processes', async () => {
    const pids = new Set(Object.values(await counterConn.hgetall('suptest:pid')));
    return [...pids].filter((p) => up.pids.includes(Number(p))).length === 3 ? true : undefined;
  }, { timeoutMs: 30_000 });

  sup.proc.kill('SIGHUP');
  await sup.waitForLine('the rolling restart done', (j) => j.msg === 'rolling restart done', 90_000);
  for (const pid of up.pids) await sup.waitForLine(`old child ${pid} exiting 0`, (j) => j.msg === 'worker process exited' && j.pid === pid && j.code === 0);
  const ranAfterRestart = acked.length;
  // The new children take jobs.
  await waitFor('jobs run after the restart', async () => ((await counterConn.hlen('suptest:runs')) > ranAfterRestart ? true : undefined), { timeoutMs: 30_000 });

  // SIGTERM while jobs run: the children finish theirs and exit; the producer goes on a moment longer.
  const stopped = sup.stop('SIGTERM', 60_000);
  await new Promise((r) => setTimeout(r, 200));
  producing = false;
  await producer;
  assert.equal(await stopped, 0);
  assert.equal(enqueueErrors, 0);
  assert.ok(acked.length > 1000, `only ${acked.length} jobs enqueued`);

  // What the stopped fleet left waiting, a fresh plain worker runs.
  const drain = spawnConveyor('worker', { REDIS_URL: redis.url, QUEUES: q, HANDLERS, SUP_TEST_REDIS: counter.url, CONCURRENCY: '50' });
  children.push(drain);
  await waitFor(`all ${acked.length} acknowledged jobs ran`, async () => ((await counterConn.hlen('suptest:runs')) >= acked.length ? true : undefined), { timeoutMs: 60_000 });
  await drain.stop('SIGTERM');

  const runs = await counterConn.hgetall('suptest:runs');
  const missing = acked.filter((id) => runs[id] === undefined);
  const twice = Object.entries(runs).filter(([, n]) => n !== '1');
  assert.deepEqual(missing, [], `${missing.length} acknowledged jobs never ran`);
  assert.deepEqual(twice, [], 'no job ran twice (nothing handed back or stalled)');
  assert.equal(Object.keys(runs).length, acked.length);
  const queue = core.queues.source(q);
  assert.equal(await queue.getFailedCount(), 0);
  // No handoff left a retry behind: the completed jobs Redis keeps (the last 1,000) each finished on their first attempt.
  const completed = await queue.getCompleted(0, 999);
  assert.ok(completed.length > 0);
  for (const j of completed) assert.equal(j.attemptsMade, 1, `job ${j.id} took ${j.attemptsMade} attempts`);
});
