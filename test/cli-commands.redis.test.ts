/**
 * The CLI against a spawned Redis: every command group, its --json output and
 * its exit codes. Most run in this process through runCli (the same code as
 * the binary, minus the start-up); a few run the real `bin/conveyor.js` and
 * `npx conveyor` to prove the launcher and the exit status.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runCliCaptured, type CliResult } from './cli-capture.ts';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { testConfig, uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { spawnConveyor } from '../shared/testing/processes.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { silentLogger } from '../shared/log.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import { attachHeartbeat } from '../shared/runtime/heartbeat.ts';
import { interopKeys } from '../shared/interop/interop-keys.ts';

const ROOT = join(import.meta.dirname, '..');
let redis: RedisProcess;
let core: Core;

before(async () => {
  ({ redis, core } = await redisAndCore());
});
after(async () => {
  await closeRedisAndCore(redis, core);
});

/** `conveyor ARGS` in this process, against the test's Redis; --json output parsed. */
function cli(...argv: string[]): Promise<CliResult> {
  return runCliCaptured({ REDIS_URL: redis.url }, argv);
}

test('enqueue, queues, jobs get and jobs list; a missing job is exit 3', async () => {
  const q = uniqueQueue('cli');
  const e = await cli('enqueue', q, 'send', '--data', '{"to":"a@example.com"}', '--opts', '{"jobId":"mail-1","attempts":5}', '--json');
  assert.equal(e.code, 0, e.stderr);
  assert.deepEqual(e.json, { id: 'mail-1', queue: q, name: 'send', duplicate: false });
  assert.equal((await cli('enqueue', q, 'send', '--opts', '{"jobId":"mail-1"}', '--json')).json.duplicate, true);
  await cli('enqueue', q, 'later', '--opts', '{"delay":60000}');

  const queues = await cli('queues', '--json');
  const mine = queues.json.queues.find((x: { name: string }) => x.name === q);
  assert.deepEqual(mine.counts, { waiting: 1, active: 0, delayed: 1, completed: 0, failed: 0, dead: 0, paused: 0, held: 0 });
  assert.match((await cli('queues')).stdout, new RegExp(`${q}\\s+running\\s+1\\s+0\\s+1`));

  const job = await cli('jobs', 'get', q, 'mail-1', '--json');
  assert.equal(job.code, 0);
  assert.deepEqual({ name: job.json.name, state: job.json.state, data: job.json.data, attempts: job.json.opts.attempts }, { name: 'send', state: 'waiting', data: { to: 'a@example.com' }, attempts: 5 });
  const list = await cli('jobs', 'list', q, '--state', 'delayed', '--json');
  assert.equal(list.json.total, 1);
  assert.equal(list.json.jobs[0].name, 'later');

  const missing = await cli('jobs', 'get', q, 'nope');
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /JOB_NOT_FOUND/);
  assert.equal((await cli('jobs', 'list', uniqueQueue('none'))).code, 3);
  assert.equal((await cli('enqueue', 'bad name!', 'x')).code, 2);
});

test('pause and resume a queue; an unknown queue is exit 3', async () => {
  const q = uniqueQueue('pause');
  await core.producer.enqueue(q, { name: 'x' });
  assert.deepEqual((await cli('pause', q, '--json')).json, { queue: q, paused: true });
  assert.equal((await core.inspector.summary(q)).paused, true);
  assert.equal((await cli('resume', q)).code, 0);
  assert.equal((await core.inspector.summary(q)).paused, false);
  assert.equal((await cli('pause', uniqueQueue('ghost'))).code, 3);
});

async function deadLetters(q: string, reasons: string[]): Promise<void> {
  const host = new WorkerHost({ config: testConfig(redis.url), handlers: { boom: (d: { why: string }) => { throw new Error(d.why); } }, logger: silentLogger, queues: [q] });
  await host.start();
  try {
    for (const why of reasons) await core.producer.enqueue(q, { name: 'boom', data: { why }, opts: { attempts: 1 } });
    await waitFor('dead letters', async () => (await core.inspector.summary(q)).counts.dead === reasons.length);
  } finally {
    await host.stop();
  }
}

test('dead list, replay --match --dry-run, replay --match, replay one, drop --all with progress', async () => {
  const q = uniqueQueue('dead');
  await deadLetters(q, ['ECONNREFUSED 10.0.0.1', 'timeout', 'econnrefused again', 'bad data']);
  const list = await cli('dead', 'list', q, '--json');
  assert.equal(list.json.total, 4);
  assert.equal((await cli('dead', 'list', q, '--match', 'econnrefused', '--json')).json.total, 2);

  const dry = await cli('dead', 'replay', q, '--match', 'ECONNREFUSED', '--dry-run', '--json');
  assert.equal(dry.code, 0);
  assert.deepEqual({ selected: dry.json.selected, done: dry.json.done, dryRun: dry.json.dryRun }, { selected: 2, done: 0, dryRun: true });
  assert.equal((await core.inspector.summary(q)).counts.dead, 4, 'a dry run changes nothing');

  const replay = await cli('dead', 'replay', q, '--match', 'ECONNREFUSED', '--json');
  assert.equal(replay.json.done, 2);
  assert.match(replay.stderr, /replayed 2\/2/, 'progress on stderr');
  const s = await core.inspector.summary(q);
  assert.deepEqual([s.counts.dead, s.counts.waiting], [2, 2]);

  const one = (await cli('dead', 'list', q, '--match', 'timeout', '--json')).json.jobs[0].id;
  assert.equal((await cli('dead', 'replay', q, one)).code, 0);
  assert.equal((await cli('dead', 'replay', q, one)).code, 3, 'a dead letter replayed already is not found');
  assert.equal((await cli('dead', 'drop', q, '--all', '--dry-run', '--json')).json.selected, 1);
  const drop = await cli('dead', 'drop', q, '--all', '--json');
  assert.deepEqual([drop.code, drop.json.done], [0, 1]);
  assert.equal((await core.inspector.summary(q)).counts.dead, 0);
});

test('schedules set, list, get, run, pause, resume, rm; a bad cron is exit 2 and stores nothing', async () => {
  const q = uniqueQueue('sched');
  const id = `${q}-nightly`;
  const bad = await cli('schedules', 'set', id, '--queue', q, '--name', 'report', '--cron', '61 * * * *');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /INVALID_CRON/);
  assert.equal((await cli('schedules', 'get', id)).code, 3);

  const set = await cli('schedules', 'set', id, '--queue', q, '--name', 'report', '--cron', '0 3 * * *', '--tz', 'Europe/Paris', '--data', '{"full":true}', '--json');
  assert.equal(set.code, 0, set.stderr);
  assert.equal(set.json.created, true);
  assert.equal(set.json.schedule.nextRuns.length, 5);
  assert.ok((await cli('schedules', 'list', '--queue', q, '--json')).json.schedules.some((s: { id: string }) => s.id === id));
  const run = await cli('schedules', 'run', id, '--json');
  assert.equal(run.json.name, 'report');
  assert.deepEqual((await core.inspector.getJob(q, run.json.id))?.data, { full: true });
  assert.equal((await cli('schedules', 'pause', id, '--json')).json.paused, true);
  assert.equal((await cli('schedules', 'resume', id, '--json')).json.paused, false);
  assert.equal((await cli('schedules', 'rm', id)).code, 0);
  assert.equal((await cli('schedules', 'rm', id)).code, 3);
});

test('workers lists the fleet; workers quiet ID --wait quiets one; an unknown id is exit 3', async () => {
  const q = uniqueQueue('fleet');
  const host = new WorkerHost({ config: testConfig(redis.url, { HEARTBEAT_INTERVAL_MS: '100' }), handlers: {}, logger: silentLogger, queues: [q] });
  const beat = attachHeartbeat(host, { logger: silentLogger });
  await host.start();
  try {
    const listed = await waitFor('the worker in the fleet', async () => (await cli('workers', '--json')).json.workers.find((w: { id: string }) => w.id === host.id));
    assert.deepEqual(listed.queues, [q]);
    assert.equal(listed.state, 'running');
    const quiet = await cli('workers', 'quiet', host.id, '--wait', '--timeout', '10', '--json');
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.deepEqual(quiet.json, { command: 'quiet', targets: [host.id], pending: [] });
    assert.equal((await cli('workers', 'stop', 'no-such-worker')).code, 3);
  } finally {
    await host.stop();
    void beat;
  }
});

test('workers stop --all --wait stops a real worker process, which exits 0', async () => {
  const q = uniqueQueue('stop');
  const worker = spawnConveyor('worker', { REDIS_URL: redis.url, QUEUES: q, HEARTBEAT_INTERVAL_MS: '200' });
  await waitFor('the worker in the fleet', async () => (await cli('workers', '--json')).json.workers.some((w: { queues: string[] }) => w.queues.includes(q)), { timeoutMs: 20_000 });
  const stop = await cli('workers', 'stop', '--all', '--wait', '--timeout', '30', '--json');
  assert.equal(stop.code, 0, stop.stderr);
  assert.ok(stop.json.targets.length >= 1);
  assert.equal(await worker.exited, 0);
});

test('redis info reports the role, version and replicas', async () => {
  const r = await cli('redis', 'info', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.kind, 'standalone');
  assert.equal(r.json.nodes.length, 1);
  assert.equal(r.json.nodes[0].role, 'master');
  assert.deepEqual(r.json.nodes[0].replicas, []);
  assert.match(r.json.nodes[0].version, /^\d+\.\d+/);
});

test('interop status and rejected list|clear read the bridge\'s keys', async () => {
  await core.conn.del(interopKeys.rejected);
  await core.conn.lpush(interopKeys.rejected, JSON.stringify({ payload: '{oops', reason: 'not valid JSON', at: new Date().toISOString(), source: 'queue:x', bridge: 'b1' }));
  await core.conn.sadd('resque:queues', 'legacy');
  await core.conn.rpush('resque:queue:legacy', '{"class":"A","args":[]}');
  const status = await cli('interop', 'status', '--json');
  assert.equal(status.json.rejected, 1);
  assert.deepEqual(status.json.sources.find((s: { key: string }) => s.key === 'resque:queue:legacy'), { key: 'resque:queue:legacy', waiting: 1 });
  const list = await cli('interop', 'rejected', 'list', '--json');
  assert.equal(list.json.rejected[0].reason, 'not valid JSON');
  assert.deepEqual((await cli('interop', 'rejected', 'clear', '--json')).json, { cleared: 1 });
});

test('the real binary: npx conveyor prints JSON and exits with the status of the command', async () => {
  const bin = (args: string[], url: string) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin', 'conveyor.js'), ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', REDIS_URL: url } });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    return new Promise<{ code: number | null; err: string }>((r) => p.once('exit', (code) => r({ code, err })));
  };
  // Side by side: the unreachable one waits out the 5 s start-up wait.
  const [npx, missing, unreachable] = await Promise.all([
    promisify(execFile)('npx', ['--offline', 'conveyor', 'queues', '--json'], { cwd: ROOT, env: { ...process.env, REDIS_URL: redis.url } }),
    bin(['jobs', 'get', 'q', 'nope'], redis.url),
    bin(['queues'], 'redis://127.0.0.1:1'),
  ]);
  assert.ok(Array.isArray(JSON.parse(npx.stdout).queues));
  assert.equal(missing.code, 3);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.err, /REDIS_UNAVAILABLE: Nothing is listening/);
});
