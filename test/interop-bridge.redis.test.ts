/**
 * The interop bridge against a spawned Redis, with payloads pushed by a real
 * other client (redis-cli) in Resque and Sidekiq formats, malformed payloads,
 * and a bridge process killed with SIGKILL between the move and the enqueue
 * and between the enqueue and the removal.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { testConfig, uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { silentLogger } from '../shared/log.ts';
import { InteropBridge, type BridgeOptions } from '../shared/interop/bridge.ts';
import { interopKeys } from '../shared/interop/interop-keys.ts';
import { RejectedPayloads } from '../shared/interop/rejected.ts';
import { isConveyorError } from '../shared/errors.ts';
import type { Redis } from 'ioredis';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');

let redis: RedisProcess;
let core: Core;
let client: Redis;
const bridges: InteropBridge[] = [];
const children: ChildProcess[] = [];

before(async () => {
  ({ redis, core } = await redisAndCore());
  client = redis.client();
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(bridges.map((b) => b.stop()));
  await closeRedisAndCore(redis, core);
});

/** Runs redis-cli against the test's Redis: a producer that is not Conveyor. */
async function cli(...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-p', String(redis.port), ...args]);
  return stdout.trim();
}

async function startBridge(opts: Partial<BridgeOptions> & { env?: Record<string, string> } = {}): Promise<InteropBridge> {
  const { env = {}, ...rest } = opts;
  const b = new InteropBridge({ config: testConfig(redis.url, { INTEROP: 'sidekiq,resque', ...env }), logger: silentLogger, ...rest });
  bridges.push(b);
  await b.start();
  return b;
}

async function jobsOf(queue: string) {
  const { jobs } = await core.inspector.listJobs(queue, 'waiting', 0, 100);
  const delayed = (await core.inspector.listJobs(queue, 'delayed', 0, 100)).jobs;
  return [...jobs, ...delayed];
}

test('Resque jobs pushed with redis-cli (RPUSH + SADD resque:queues) become Conveyor jobs; identical payloads stay two jobs', async () => {
  const q = uniqueQueue('resque');
  const b = await startBridge({ discoverMs: 100 }); // finds the queue through resque:queues
  await cli('SADD', 'resque:queues', q);
  await cli('RPUSH', `resque:queue:${q}`, '{"class":"Archive","args":[42,"docs"]}');
  await cli('RPUSH', `resque:queue:${q}`, '{"class":"Archive","args":[42,"docs"]}');
  const jobs = await waitFor('two Archive jobs', async () => ((await jobsOf(q)).length === 2 ? jobsOf(q) : undefined));
  for (const j of jobs) {
    assert.equal(j.name, 'Archive');
    assert.deepEqual(j.data, { args: [42, 'docs'], resque: {} });
    assert.match(j.id, /^resque-[0-9a-f-]{36}$/);
  }
  assert.notEqual(jobs[0]!.id, jobs[1]!.id);
  assert.equal(await client.llen(`resque:queue:${q}`), 0);
  assert.equal(await client.llen(interopKeys.processing(b.id, `resque:queue:${q}`)), 0);
  assert.equal(await client.hlen(interopKeys.claims(b.id)), 0);
});

test('Sidekiq jobs pushed with redis-cli (LPUSH + SADD queues) keep jid as id and retry as attempts; a jid pushed twice is one job', async () => {
  const q = uniqueQueue('sidekiq');
  await startBridge({ queues: [q] });
  const payload = (jid: string) => JSON.stringify({ class: 'HardWorker', args: ['bob', 5], jid, retry: 4, queue: q, created_at: 1700000000.1, enqueued_at: 1700000000.2 });
  await cli('SADD', 'queues', q);
  await cli('LPUSH', `queue:${q}`, payload('0123456789abcdef01234567'));
  await cli('LPUSH', `queue:${q}`, payload('fedcba9876543210fedcba98'));
  await cli('LPUSH', `queue:${q}`, payload('0123456789abcdef01234567'));
  await waitFor('the source list emptied', async () => (await client.llen(`queue:${q}`)) === 0);
  const jobs = await waitFor('two jobs', async () => ((await jobsOf(q)).length === 2 ? jobsOf(q) : undefined));
  assert.deepEqual(jobs.map((j) => j.id).sort(), ['0123456789abcdef01234567', 'fedcba9876543210fedcba98']);
  const j = (await core.inspector.getJob(q, '0123456789abcdef01234567'))!;
  assert.equal(j.name, 'HardWorker');
  assert.equal(j.opts.attempts, 5);
  assert.deepEqual(j.data, { args: ['bob', 5], sidekiq: { jid: '0123456789abcdef01234567', retry: 4, queue: q, created_at: 1700000000.1, enqueued_at: 1700000000.2 } });
});

test('a scheduled Sidekiq job (schedule zset) becomes a delayed Conveyor job due at the same time', async () => {
  const q = uniqueQueue('sched');
  await startBridge({ queues: [q], schedulePollMs: 100 });
  const pushedFrom = Date.now();
  const runAt = pushedFrom + 60_000;
  await cli('ZADD', 'schedule', String(runAt / 1000), JSON.stringify({ class: 'Report', args: [], jid: 'sched00000000000000000001', queue: q }));
  const job = await waitFor('the delayed job', () => core.inspector.getJob(q, 'sched00000000000000000001'));
  const foundBy = Date.now();
  assert.equal(job.state, 'delayed');
  // The bridge turns the run-at into a delay from when it reads the item, and BullMQ stamps the job
  // a little later: never early, and late by at most the time the move took (1 ms for the score in seconds).
  const due = Date.parse(job.createdAt!) + job.opts.delay!;
  assert.ok(due >= runAt - 1 && due - runAt <= foundBy - pushedFrom + 1, `due ${due - runAt} ms off, moved within ${foundBy - pushedFrom} ms`);
  assert.equal(await client.zcard('schedule'), 0);
});

test('malformed payloads land in conveyor:interop:rejected with the reason and the source; nothing is enqueued', async () => {
  const q = uniqueQueue('bad');
  await startBridge({ queues: [q] });
  await client.del(interopKeys.rejected);
  await cli('RPUSH', `resque:queue:${q}`, '{"class": "Oops", args: [1]}');
  await cli('LPUSH', `queue:${q}`, '{"args":[1],"jid":"noclass0000000000000001"}');
  const rejected = new RejectedPayloads(client);
  const list = await waitFor('two rejected payloads', async () => ((await rejected.count()) === 2 ? rejected.list() : undefined));
  const bySource = Object.fromEntries(list.rejected.map((r) => [r.source, r]));
  assert.match(bySource[`resque:queue:${q}`]!.reason, /not valid JSON/);
  assert.equal(bySource[`resque:queue:${q}`]!.payload, '{"class": "Oops", args: [1]}');
  assert.match(bySource[`queue:${q}`]!.reason, /no "class"/);
  assert.ok(Date.parse(bySource[`queue:${q}`]!.at) > 0);
  assert.equal((await jobsOf(q)).length, 0);
  assert.equal(await client.llen(`queue:${q}`), 0);
  assert.equal(await client.llen(`resque:queue:${q}`), 0);
});

/** Starts a bridge process that freezes at `point` for the next item of `queue`. */
async function crashingBridge(point: 'after-move' | 'after-enqueue', queue: string) {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'interop-crash-child.ts'), redis.url, point, queue], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  const lines: Record<string, string>[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(JSON.parse(l)));
  const exited = new Promise((r) => proc.once('exit', r));
  const started = await waitFor('the bridge child to start', () => lines.find((l) => l.started), { timeoutMs: 15_000 });
  return {
    id: started.started!,
    /** Resolves once `n` items (one per source loop) are frozen at the point. */
    paused: (n = 1) => waitFor(`the child to freeze ${point}`, () => { const p = lines.filter((l) => l.paused); return p.length >= n ? p : undefined; }, { timeoutMs: 10_000 }),
    kill: async () => {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

test('kill -9 between the move and the enqueue: a surviving bridge replays the item, once', async () => {
  const q = uniqueQueue('crash1');
  const child = await crashingBridge('after-move', q);
  const payload = '{"class":"Charge","args":[{"order":7}]}';
  await cli('RPUSH', `resque:queue:${q}`, payload);
  await child.paused();
  // The state a crash here leaves: out of the source, in the processing list, not enqueued.
  assert.equal(await client.llen(`resque:queue:${q}`), 0);
  assert.deepEqual(await client.lrange(interopKeys.processing(child.id, `resque:queue:${q}`), 0, -1), [payload]);
  assert.equal((await jobsOf(q)).length, 0);
  await child.kill();

  const survivor = await startBridge({ queues: [q], leaseMs: 1000, heartbeatMs: 200 });
  const jobs = await waitFor('the replayed job', async () => ((await jobsOf(q)).length > 0 ? jobsOf(q) : undefined));
  await waitFor('the dead bridge forgotten', async () => (await client.zscore(interopKeys.bridges, child.id)) === null);
  assert.equal(jobs.length, 1);
  assert.equal(jobs[0]!.name, 'Charge');
  assert.deepEqual(jobs[0]!.data, { args: [{ order: 7 }], resque: {} });
  assert.equal(await client.exists(interopKeys.processing(child.id, `resque:queue:${q}`), interopKeys.claims(child.id), interopKeys.sources(child.id)), 0);
  assert.ok(survivor.stats.enqueued >= 1);
});

test('kill -9 between the enqueue and the removal: the replay finds the same id and enqueues nothing more', async () => {
  const q = uniqueQueue('crash2');
  const child = await crashingBridge('after-enqueue', q);
  await cli('RPUSH', `resque:queue:${q}`, '{"class":"Ship","args":[1]}');
  await cli('LPUSH', `queue:${q}`, JSON.stringify({ class: 'Notify', args: [2], jid: 'crash2jid000000000000001', queue: q }));
  const frozen = await child.paused(2); // one item per source loop
  // Both already enqueued, both still in their processing lists.
  const before = await jobsOf(q);
  assert.equal(before.length, 2);
  for (const f of frozen) assert.deepEqual(await client.lrange(interopKeys.processing(child.id, f.source!), 0, -1), [f.item]);
  const duplicates = () => bridges.reduce((n, b) => n + b.stats.duplicates, 0);
  const duplicatesBefore = duplicates();
  await child.kill();

  const survivor = await startBridge({ queues: [q], leaseMs: 1000, heartbeatMs: 200 });
  await waitFor('both sources moved and the dead bridge forgotten', async () =>
    (await client.llen(`resque:queue:${q}`)) + (await client.llen(`queue:${q}`)) === 0 && (await client.zscore(interopKeys.bridges, child.id)) === null);
  const jobs = await jobsOf(q);
  assert.equal(jobs.length, 2, `jobs: ${jobs.map((j) => `${j.name}:${j.id}`).join(', ')}`);
  assert.deepEqual(jobs.map((j) => j.id).sort(), before.map((j) => j.id).sort(), 'the replay reused the ids chosen before the crash');
  assert.deepEqual(jobs.map((j) => j.name).sort(), ['Notify', 'Ship']);
  // Whichever live bridge replayed them (an earlier test's survivor may be quicker) found both already enqueued.
  assert.equal(duplicates() - duplicatesBefore, 2);
  void survivor;
});

test('a clean stop leaves no bookkeeping behind', async () => {
  const q = uniqueQueue('clean');
  const b = new InteropBridge({ config: testConfig(redis.url, { INTEROP: 'resque' }), logger: silentLogger, queues: [q] });
  await b.start();
  await cli('RPUSH', `resque:queue:${q}`, '{"class":"A","args":[]}');
  await waitFor('the job', async () => (await jobsOf(q)).length === 1);
  await b.stop();
  assert.equal(await client.zscore(interopKeys.bridges, b.id), null);
  assert.equal(await client.exists(interopKeys.sources(b.id), interopKeys.claims(b.id)), 0);
});

test('the bridge refuses a Redis Cluster URL with a clear error (the foreign keys carry no hash tag)', async () => {
  const b = new InteropBridge({ config: testConfig('redis-cluster://127.0.0.1:7000,127.0.0.1:7001', { INTEROP: 'resque' }), logger: silentLogger });
  await assert.rejects(b.start(), (err: unknown) => isConveyorError(err, 'CONFIG_INVALID') && /standalone or Sentinel/.test(err.message));
  await b.stop();
});
