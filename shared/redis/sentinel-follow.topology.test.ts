/**
 * Following Sentinel failovers with ioredis 6, against a real topology:
 * why Conveyor does not use ioredis' failoverDetector (it can end a
 * connection for good), that Conveyor's connections and BullMQ's duplicates
 * of them move to the new primary on +switch-master, and that enqueues are
 * held while the failover runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { startTopology, type Topology } from '../testing/redis-topology.ts';
import { waitFor } from '../testing/wait-for.ts';
import { parseRedisUrl } from '../config/redis-url.ts';
import { closeRedis, createRedis } from './connections.ts';
import { failoverUnderWay, whenWritable } from './sentinel-events.ts';

type Connector = { connecting: boolean; resolve: (endpoint: unknown) => Promise<unknown> };

/** A subscriber on every sentinel; resolves on the first message on `channel`. */
function sentinelEvent(topo: Topology, channel: string): { seen: Promise<string>; close(): void } {
  const subs = topo.sentinels.map((s) => new Redis({ host: '127.0.0.1', port: s.port, maxRetriesPerRequest: null }));
  const seen = new Promise<string>((resolve) => {
    for (const c of subs) {
      c.on('error', () => {});
      c.on('message', (ch: string, msg: string) => ch === channel && resolve(msg));
      void c.subscribe(channel).catch(() => {});
    }
  });
  return { seen, close: () => subs.forEach((c) => c.disconnect()) };
}

/**
 * Kills the primary and holds the connection's next sentinel lookup until
 * +switch-master has been published (and `whileHeld` ran): the moment
 * ioredis' failoverDetector disconnects the connector.
 */
async function killAndHoldLookup(topo: Topology, conn: Redis, whileHeld: () => Promise<void>): Promise<void> {
  const connector = (conn as unknown as { connector: Connector }).connector;
  const lookup = connector.resolve.bind(connector);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let held = false;
  connector.resolve = async (endpoint) => {
    held = true;
    await gate;
    connector.resolve = lookup;
    return lookup(endpoint);
  };
  const switched = sentinelEvent(topo, '+switch-master');
  try {
    topo.primary.kill('SIGKILL');
    await waitFor('a sentinel lookup in flight', () => held, { timeoutMs: 10_000 });
    await switched.seen;
    await whileHeld();
  } finally {
    release();
    switched.close();
  }
}

test("ioredis 6's failoverDetector ends a connection for good when +switch-master arrives during its sentinel lookup (why Conveyor does not use it)", async (t) => {
  const topo = await startTopology({ downAfterMs: 1000 });
  t.after(() => topo.stop());
  const conn = new Redis({ sentinels: topo.sentinels.map((s) => ({ host: s.host, port: s.port })), name: topo.masterName, failoverDetector: true, maxRetriesPerRequest: null, retryStrategy: () => 100 });
  conn.on('error', () => {});
  t.after(() => conn.disconnect());
  assert.equal(await conn.ping(), 'PONG');

  const connector = (conn as unknown as { connector: Connector }).connector;
  await killAndHoldLookup(topo, conn, () => waitFor('the failover detector to disconnect the connector', () => connector.connecting === false, { timeoutMs: 5000 }).then(() => undefined));
  await waitFor('the connection to end', () => conn.status === 'end', { timeoutMs: 5000 });
  await assert.rejects(conn.ping(), /Connection is closed/);
});

test('a Conveyor connection lives through the same race and reaches the new primary', async (t) => {
  const topo = await startTopology({ downAfterMs: 1000 });
  t.after(() => topo.stop());
  const conn = createRedis(parseRedisUrl(topo.sentinelUrl), { role: 'worker' }) as Redis;
  t.after(() => closeRedis(conn));
  assert.equal(await conn.ping(), 'PONG');
  const ends: string[] = [];
  conn.on('end', () => ends.push(conn.status));

  await killAndHoldLookup(topo, conn, async () => {});
  const { port } = await topo.currentPrimary();
  await waitFor('the connection to reach the new primary', () => conn.status === 'ready' && conn.stream?.remotePort === port, { timeoutMs: 10_000 });
  assert.equal(((await conn.call('ROLE')) as string[])[0], 'master');
  assert.deepEqual(ends, [], 'never ended');
});

test('on SENTINEL FAILOVER an idle connection and a BullMQ-style duplicate of it move to the new primary at +switch-master (ioredis\' failoverDetector is off)', async (t) => {
  const topo = await startTopology();
  t.after(() => topo.stop());
  const conn = createRedis(parseRedisUrl(topo.sentinelUrl), { role: 'worker', name: 'follow-main' }) as Redis;
  t.after(() => closeRedis(conn));
  const dup = conn.duplicate({ connectionName: 'follow-dup' });
  t.after(() => dup.disconnect());
  dup.on('error', () => {});
  await Promise.all([conn.ping(), dup.ping()]);
  const switched = sentinelEvent(topo, '+switch-master');
  t.after(() => switched.close());

  const { primary } = await topo.failover();
  await switched.seen;
  const t0 = performance.now();
  // Well before the old primary's demotion plus a 5 s ROLE check could move them.
  await waitFor('both connections on the new primary', () => [conn, dup].every((c) => c.status === 'ready' && c.stream?.remotePort === primary.port), { timeoutMs: 1500, intervalMs: 10 });
  console.log(`  both connections on the new primary ${Math.round(performance.now() - t0)} ms after the sentinels agreed on it`);
  const names = String(await primary.call('CLIENT', 'LIST'));
  assert.match(names, / name=follow-main /);
  assert.match(names, / name=follow-dup /);
});

test('enqueues are held from the first failover event until the connection is on the new primary', async (t) => {
  const topo = await startTopology();
  t.after(() => topo.stop());
  const conn = createRedis(parseRedisUrl(topo.sentinelUrl), { role: 'producer' }) as Redis;
  t.after(() => closeRedis(conn));
  await conn.ping();
  await whenWritable(conn); // nothing going on: at once
  const selected = sentinelEvent(topo, '+selected-slave');
  t.after(() => selected.close());

  const failover = topo.failover();
  await selected.seen;
  await waitFor('this process to see the failover', () => failoverUnderWay(conn), { timeoutMs: 2000, intervalMs: 5 });
  let resolvedAt: number | undefined;
  const writable = whenWritable(conn).then(() => (resolvedAt = performance.now()));
  await new Promise((r) => setImmediate(r));
  assert.equal(resolvedAt, undefined, 'held while the failover runs');
  const { primary } = await failover;
  await writable;
  assert.equal(conn.stream?.remotePort, primary.port, 'released on the new primary');
  assert.equal(await conn.set('after-failover', '1'), 'OK');
  assert.equal(await primary.client().get('after-failover'), '1');
});
