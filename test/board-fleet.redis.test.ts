/**
 * The fleet: heartbeats written by real WorkerHosts (in this process and in
 * spawned worker processes), read through Fleet; quiet and stop obeyed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import type { RedisProcess } from '../shared/testing/redis-process.ts';
import { testConfig, uniqueQueue, type Core, redisAndCore, closeRedisAndCore } from '../shared/testing/fixtures.ts';
import { spawnConveyor } from '../shared/testing/processes.ts';
import { waitFor, once } from '../shared/testing/wait-for.ts';
import { silentLogger } from '../shared/log.ts';
import { WorkerHost } from '../shared/runtime/worker-host.ts';
import { attachHeartbeat, type Heartbeat } from '../shared/runtime/heartbeat.ts';
import { Fleet } from '../shared/queue/fleet.ts';
import { keys } from '../shared/queue/names.ts';
import type { HandlerMap } from '../shared/runtime/handler.ts';

let redis: RedisProcess;
let core: Core;
let fleet: Fleet;
const hosts: WorkerHost[] = [];

before(async () => {
  ({ redis, core } = await redisAndCore());
  fleet = new Fleet(core.conn);
});
after(async () => {
  await Promise.all(hosts.map((h) => h.stop()));
  await closeRedisAndCore(redis, core);
});

const handlers: HandlerMap = {
  noop: () => null,
  boom: () => {
    throw new Error('boom');
  },
  hold: (_d, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true })),
};

async function startHost(queues: string[], env: Record<string, string> = {}, onStop?: () => void): Promise<{ host: WorkerHost; beat: Heartbeat }> {
  const config = testConfig(redis.url, { HEARTBEAT_INTERVAL_MS: '100', HEARTBEAT_TTL_MS: '600', CONCURRENCY: '4', SHUTDOWN_GRACE_MS: '500', ...env });
  const host = new WorkerHost({ config, handlers, logger: silentLogger, queues });
  const beat = attachHeartbeat(host, { logger: silentLogger, onStop });
  hosts.push(host);
  await host.start();
  return { host, beat };
}

test('a running worker appears in the fleet with its process facts, and its counts follow the jobs it runs', async () => {
  const q = uniqueQueue('fleet');
  const { host, beat } = await startHost([q]);
  const me = await waitFor('the worker in the fleet', async () => (await fleet.list()).find((w) => w.id === host.id));
  assert.equal(me.host, hostname());
  assert.equal(me.pid, process.pid);
  assert.deepEqual(me.queues, [q]);
  assert.equal(me.concurrency, 4);
  assert.equal(me.state, 'running');
  assert.ok(me.rssBytes > 10_000_000, `rss ${me.rssBytes}`);
  assert.ok(me.startedAt <= me.beatAt && me.beatAt <= Date.now());
  assert.equal(me.ttlMs, 600);

  for (let i = 0; i < 5; i++) await core.producer.enqueue(q, { name: 'noop' });
  await core.producer.enqueue(q, { name: 'boom', opts: { attempts: 1 } });
  await waitFor('6 jobs done', () => host.stats.processed === 5 && host.stats.failed === 1);
  await beat.beat();
  const after = (await fleet.get(host.id))!;
  assert.equal(after.processed, 5);
  assert.equal(after.failed, 1);
  assert.equal(typeof after.rttMs, 'number');
  assert.ok(after.lagMs >= 0 && after.lagMaxMs >= after.lagMs);

  const t = await fleet.throughput(60);
  assert.equal(t.minutes.length, 60);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const mine = t.byQueue.get(q)!;
  assert.equal(sum(mine.processed), 5);
  assert.equal(sum(mine.failed), 1);
  assert.equal(sum(mine.dead), 1);
  assert.deepEqual((await fleet.consumers()).get(q), 1);
});

test('the heartbeat writes Redis once per beat, not once per job', async () => {
  const q = uniqueQueue('writes');
  const { host, beat } = await startHost([q], { HEARTBEAT_INTERVAL_MS: '60000', HEARTBEAT_TTL_MS: '120000' });
  await waitFor('first beat', () => fleet.get(host.id));
  const monitor = await redis.client().monitor();
  const fleetWrites: string[] = [];
  // Other tests' workers beat too: count the commands about this worker and this queue.
  monitor.on('monitor', (_t: string, args: string[]) => {
    const a = args.map(String);
    if (a.some((x) => x.includes(':fleet:')) && a.some((x) => x.includes(host.id) || x.startsWith(`${q}|`))) fleetWrites.push(a[0]!.toLowerCase());
  });
  await core.producer.enqueueBulk(q, Array.from({ length: 40 }, () => ({ name: 'noop' })));
  await waitFor('40 jobs processed', () => host.stats.processed === 40);
  assert.equal(fleetWrites.length, 0, `no fleet key touched while jobs ran: ${fleetWrites.join(' ')}`);
  await beat.beat();
  await waitFor('the beat seen by MONITOR', () => fleetWrites.includes('del'));
  monitor.disconnect();
  assert.deepEqual(fleetWrites, ['set', 'zadd', 'hincrby', 'get', 'del'], 'one beat: its key, the index, one counter for 40 jobs, the command key');
  const t = await fleet.throughput(5);
  assert.equal(t.byQueue.get(q)!.processed.reduce((a, b) => a + b, 0), 40);
});

test('quiet from the board: the worker finishes what it runs, takes no new job, and reports "quiet"', async () => {
  const q = uniqueQueue('quiet');
  const { host } = await startHost([q]);
  await waitFor('in fleet', () => fleet.get(host.id));
  const addressed = await fleet.command('quiet', host.id, 'tester');
  assert.deepEqual(addressed, [host.id]);
  await waitFor('state quiet', async () => (await fleet.get(host.id))?.state === 'quiet');
  await core.producer.enqueue(q, { name: 'noop' });
  // The worker keeps beating (alive) while the job stays waiting.
  const beatAt = (await fleet.get(host.id))!.beatAt;
  await waitFor('two more beats', async () => ((await fleet.get(host.id))?.beatAt ?? 0) > beatAt + 150);
  assert.equal((await core.inspector.summary(q)).counts.waiting, 1);
  assert.equal(host.stats.processed, 0);
  assert.equal((await fleet.consumers()).get(q), undefined, 'a quiet worker does not count as consuming');
});

test('a command whose pub/sub message was missed is obeyed at the next beat (command key)', async () => {
  const q = uniqueQueue('missed');
  const { host } = await startHost([q]);
  await waitFor('in fleet', () => fleet.get(host.id));
  await fleet.command('quiet', host.id, 'tester', { publish: false });
  await waitFor('state quiet', async () => (await fleet.get(host.id))?.state === 'quiet');
  assert.equal(await core.conn.exists(keys.workerCommand(host.id)), 0, 'the beat consumed its command key');
});

test('stop from the board: the worker stops gracefully and leaves the fleet at once', async () => {
  const q = uniqueQueue('stop');
  const { host, beat } = await startHost([q]);
  await waitFor('in fleet', () => fleet.get(host.id));
  const other = await startHost([q]);
  await waitFor('second in fleet', () => fleet.get(other.host.id));
  const stopped = once(host, 'stopped');
  await fleet.command('stop', host.id, 'tester');
  await stopped;
  await beat.done();
  assert.equal(await fleet.get(host.id), undefined);
  assert.ok(!(await fleet.list()).some((w) => w.id === host.id));
  assert.equal(other.host.lifecycle, 'running', 'only the addressed worker stopped');
});

test('quiet all reaches every live worker', async () => {
  const q = uniqueQueue('all');
  const a = await startHost([q]);
  const b = await startHost([q]);
  await waitFor('both in fleet', async () => (await fleet.get(a.host.id)) && (await fleet.get(b.host.id)));
  const addressed = await fleet.command('quiet', 'all', 'tester');
  assert.ok(addressed.includes(a.host.id) && addressed.includes(b.host.id));
  await waitFor('both quiet', async () => (await fleet.get(a.host.id))?.state === 'quiet' && (await fleet.get(b.host.id))?.state === 'quiet');
});

test('a killed worker process disappears from the fleet after the heartbeat TTL; a stop command ends a worker process with exit 0', async () => {
  const q = uniqueQueue('proc');
  const env = { REDIS_URL: redis.url, QUEUES: q, HEARTBEAT_INTERVAL_MS: '200', HEARTBEAT_TTL_MS: '1000' };
  const killed = spawnConveyor('worker', env);
  const stopped = spawnConveyor('worker', env);
  try {
    const pids = [killed.proc.pid, stopped.proc.pid];
    await waitFor('both processes in the fleet', async () => (await fleet.list()).filter((w) => pids.includes(w.pid)).length === 2, { timeoutMs: 20_000 });
    const victim = (await fleet.list()).find((w) => w.pid === killed.proc.pid)!;
    // What makes it disappear is the key's own expiry, set by each beat to the TTL (Redis's clock,
    // not this test's speed): checked on the key rather than by timing the disappearance.
    const ttl = await core.conn.pttl(keys.workerBeat(victim.id));
    assert.ok(ttl > 0 && ttl <= 1000, `the heartbeat key expires by itself within HEARTBEAT_TTL_MS (PTTL ${ttl} ms)`);
    killed.proc.kill('SIGKILL');
    const goneAt = Date.now();
    await waitFor('the killed worker gone', async () => !(await fleet.get(victim.id)), { timeoutMs: 20_000 });
    console.log(`  killed worker gone from the fleet ${Date.now() - goneAt} ms after the kill (TTL 1000 ms)`);

    const target = (await fleet.list()).find((w) => w.pid === stopped.proc.pid)!;
    await fleet.command('stop', target.id, 'tester');
    assert.equal(await stopped.exited, 0);
    assert.equal(await fleet.get(target.id), undefined, 'a stopped process removes its heartbeat');
  } finally {
    await killed.exited;
    if (stopped.exitCode() === undefined) await stopped.stop('SIGKILL');
  }
});
