/**
 * The bridge where it runs for real: inside a worker process started with
 * INTEROP, and alone as `npm run bridge` (scripts/bridge.ts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { spawnConveyor } from '../shared/testing/processes.ts';
import { waitFor } from '../shared/testing/wait-for.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
let redis: RedisProcess;
let core: Core;

before(async () => {
  ({ redis, core } = await redisAndCore());
});
after(async () => {
  await closeRedisAndCore(redis, core);
});

const cli = (...args: string[]) => run('redis-cli', ['-p', String(redis.port), ...args]);

test('a worker started with INTEROP=resque runs a job a Resque producer pushed', async () => {
  const q = uniqueQueue('w');
  const worker = spawnConveyor('worker', { REDIS_URL: redis.url, QUEUES: q, INTEROP: 'resque' });
  try {
    await worker.waitForLine('"interop bridge started"', (j) => j.msg === 'interop bridge started');
    await cli('SADD', 'resque:queues', q);
    await cli('RPUSH', `resque:queue:${q}`, '{"class":"noop","args":["hello"]}');
    const done = await waitFor('the job completed', async () => {
      const { jobs } = await core.inspector.listJobs(q, 'completed');
      return jobs.length === 1 ? jobs[0] : undefined;
    }, { timeoutMs: 15_000 });
    assert.equal(done.name, 'noop');
    assert.deepEqual(done.data, { args: ['hello'], resque: {} });
  } finally {
    assert.equal(await worker.stop(), 0);
  }
});

test('npm run bridge (scripts/bridge.ts) moves both formats alone and stops cleanly on SIGTERM', async () => {
  const q = uniqueQueue('b');
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'bridge.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', REDIS_URL: redis.url, INTEROP_QUEUES: q, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  try {
    await waitFor('the bridge to start', () => out.includes('interop bridge started'), { timeoutMs: 15_000 });
    await cli('LPUSH', `queue:${q}`, JSON.stringify({ class: 'SidekiqJob', args: [1], jid: 'alone000000000000000001', retry: 0 }));
    await cli('RPUSH', `resque:queue:${q}`, '{"class":"ResqueJob","args":[2]}');
    await waitFor('both jobs', async () => (await core.inspector.summary(q)).counts.waiting === 2);
    const j = await core.inspector.getJob(q, 'alone000000000000000001');
    assert.equal(j?.opts.attempts, 1);
  } finally {
    proc.kill('SIGTERM');
  }
  assert.equal(await exited, 0, out.slice(-2000));
  assert.match(out, /interop bridge stopped/);
});
