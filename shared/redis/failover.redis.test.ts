/**
 * Failover handling of one connection, against real redis-servers behind a
 * TCP proxy playing a managed primary endpoint: READONLY from a demoted
 * primary makes the client reconnect (and so follow the endpoint); an idle
 * connection left on a demoted node moves by itself; a frozen primary is
 * noticed by the socket timeout; the endpoint's host name is resolved again
 * on every reconnect; a connection ioredis ends on its own is connected again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { startRedis, type RedisProcess } from '../testing/redis-process.ts';
import { startProxy } from '../testing/tcp-proxy.ts';
import { waitFor } from '../testing/wait-for.ts';
import { parseRedisUrl } from '../config/redis-url.ts';
import { closeRedis, createRedis } from './connections.ts';
import { failoverStats, recentFailovers } from './failover-log.ts';

/** A primary and its linked replica. */
async function pair(t: { after(fn: () => unknown): void }): Promise<[RedisProcess, RedisProcess]> {
  const a = await startRedis();
  const b = await startRedis({ args: ['--replicaof', '127.0.0.1', String(a.port)] });
  t.after(() => Promise.all([a.stop(), b.stop()]));
  await waitFor('the replica to link', async () => /master_link_status:up/.test(await b.client().info('replication')));
  return [a, b];
}

/** b becomes the primary, a its replica (the managed service's failover, minus the endpoint). */
async function promote(a: RedisProcess, b: RedisProcess): Promise<void> {
  await b.client().call('REPLICAOF', 'NO', 'ONE');
  await a.client().call('REPLICAOF', '127.0.0.1', String(b.port));
}

const clientsNamed = async (r: RedisProcess, name: string) =>
  String(await r.client().call('CLIENT', 'LIST')).split('\n').filter((l) => l.includes(` name=${name} `)).length;

test('after a managed-endpoint failover a write on the old primary gets READONLY, the client reconnects through the endpoint and the write lands on the new primary', async (t) => {
  const [a, b] = await pair(t);
  const proxy = await startProxy({ target: { host: '127.0.0.1', port: a.port } });
  t.after(() => proxy.stop());
  const conn = createRedis(parseRedisUrl(proxy.url()), { role: 'producer', commandTimeoutMs: 3000, name: 'readonly-test' }) as Redis;
  t.after(() => closeRedis(conn));
  await conn.set('before', '1');
  const reconnects = failoverStats.reconnects;

  await promote(a, b);
  proxy.switchTo({ host: '127.0.0.1', port: b.port }); // the open connection stays on a
  assert.equal(await conn.set('after', '2'), 'OK', 'the write that met READONLY was sent again after the reconnect');
  assert.equal(await b.client().get('after'), '2');
  assert.equal(failoverStats.reconnects, reconnects + 1);
  assert.equal(proxy.stats().byTarget[`127.0.0.1:${b.port}`], 1);
  // Seen as a primary change, written to the failover log on the new primary.
  const log = await waitFor('the failover log entry', async () => ((await recentFailovers(b.client(), 5)).length > 0 ? recentFailovers(b.client(), 5) : undefined));
  assert.deepEqual(log.map((e) => [e.from, e.to, e.kind, e.seenBy.split('@')[0]]), [[`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`, 'endpoint', 'readonly-test']]);
});

test('an idle connection left on a demoted primary notices by its ROLE check and moves to the new primary', async (t) => {
  const [a, b] = await pair(t);
  const proxy = await startProxy({ target: { host: '127.0.0.1', port: a.port } });
  t.after(() => proxy.stop());
  const conn = createRedis(parseRedisUrl(proxy.url()), { role: 'inspector', name: 'idle-test', roleCheckMs: 200 }) as Redis;
  t.after(() => closeRedis(conn));
  await conn.ping();
  assert.equal(await clientsNamed(a, 'idle-test'), 1);

  await promote(a, b);
  proxy.switchTo({ host: '127.0.0.1', port: b.port });
  const t0 = performance.now();
  await waitFor('the idle connection to reach the new primary', async () => (await clientsNamed(b, 'idle-test')) === 1, { timeoutMs: 5000 });
  console.log(`  idle connection moved to the new primary ${Math.round(performance.now() - t0)} ms after the switch (ROLE check every 200 ms)`);
  assert.equal(await clientsNamed(a, 'idle-test'), 0);
  assert.equal(await conn.call('ROLE').then((r) => (r as string[])[0]), 'master');
});

test('a frozen primary (socket open, no answer) is noticed: the producer socket is dropped within its command timeout plus 1 s', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const proxy = await startProxy({ target: { host: '127.0.0.1', port: redis.port } });
  t.after(() => proxy.stop());
  const conn = createRedis(parseRedisUrl(proxy.url()), { role: 'producer', commandTimeoutMs: 500 }) as Redis;
  t.after(() => closeRedis(conn));
  await conn.ping();
  const closed = new Promise<number>((r) => conn.once('close', () => r(performance.now())));

  proxy.freeze();
  const t0 = performance.now();
  await assert.rejects(conn.ping(), /timed out/);
  const ms = Math.round((await closed) - t0);
  console.log(`  frozen primary: socket dropped after ${ms} ms (command timeout 500 ms)`);
  // Not before its timeout; the upper bound is "never a hang", not a speed assertion.
  assert.ok(ms >= 400 && ms < 10_000, `dropped after ${ms} ms`);
  proxy.thaw();
  proxy.dropConnections();
  assert.equal(await conn.ping(), 'PONG', 'it reconnects once the endpoint answers');
});

test('the endpoint host name is resolved again on every reconnect (a managed endpoint whose DNS record moved)', async (t) => {
  const [a, b] = [await startRedis(), await startRedis()];
  t.after(() => Promise.all([a.stop(), b.stop()]));
  await a.client().set('who', 'a');
  await b.client().set('who', 'b');
  // Two forwarders on the same port of two loopback addresses: the "DNS record" picks one.
  const forward = (to: number): Server => createServer((s: Socket) => {
    const up = connect(to, '127.0.0.1');
    s.pipe(up).pipe(s);
    s.on('error', () => up.destroy());
    up.on('error', () => s.destroy());
  });
  const f1 = forward(a.port);
  await new Promise<void>((r) => f1.listen(0, '127.0.0.1', () => r()));
  const port = (f1.address() as { port: number }).port;
  const f2 = forward(b.port);
  await new Promise<void>((resolve, reject) => f2.once('error', reject).listen(port, '127.0.0.2', () => resolve()));
  t.after(() => Promise.all([f1, f2].map((f) => new Promise((r) => f.close(r)))));

  let answer = '127.0.0.1';
  const lookups: string[] = [];
  const real = dns.lookup;
  // net.connect resolves through dns.lookup: answer for our made-up name only.
  (dns as { lookup: unknown }).lookup = (host: string, opts: unknown, cb: unknown) => {
    if (host !== 'redis-endpoint.test') return (real as (...a: unknown[]) => unknown)(host, opts, cb);
    lookups.push(answer);
    const done = (typeof opts === 'function' ? opts : cb) as (...a: unknown[]) => void;
    const all = typeof opts === 'object' && opts !== null && (opts as { all?: boolean }).all;
    process.nextTick(() => (all ? done(null, [{ address: answer, family: 4 }]) : done(null, answer, 4)));
  };
  t.after(() => ((dns as { lookup: unknown }).lookup = real));

  const conn = createRedis(parseRedisUrl(`redis://redis-endpoint.test:${port}`), { role: 'producer' }) as Redis;
  t.after(() => closeRedis(conn));
  assert.equal(await conn.get('who'), 'a');
  answer = '127.0.0.2'; // the record moves
  conn.stream?.destroy(); // the old connection goes (failover)
  assert.equal(await conn.get('who'), 'b', 'the reconnect resolved the name again and reached the new address');
  assert.deepEqual(lookups, ['127.0.0.1', '127.0.0.2']);
});

test('a connection that ioredis ends on its own (a disconnect racing a connect) is connected again; one closed with closeRedis is not', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const conn = createRedis(parseRedisUrl(redis.url), { role: 'worker' }) as Redis;
  t.after(() => closeRedis(conn));
  await conn.ping();
  const revived = failoverStats.revived;
  // What ioredis' failoverDetector does on +switch-master: the connector is
  // disconnected while the connection is connecting, and the connect fails
  // with "Connection is closed." — ioredis then sets status "end" for good.
  const connector = (conn as unknown as { connector: { connect: (...a: unknown[]) => Promise<unknown>; disconnect(): void } }).connector;
  const realConnect = connector.connect.bind(connector);
  connector.connect = (...args: unknown[]) => {
    connector.connect = realConnect;
    const p = realConnect(...args);
    connector.disconnect();
    return p;
  };
  const ended = new Promise((r) => conn.once('end', r));
  conn.stream?.destroy();
  await ended;
  await waitFor('the connection to be ready again', () => conn.status === 'ready', { timeoutMs: 3000 });
  assert.equal(await conn.ping(), 'PONG', 'commands work again');
  assert.equal(failoverStats.revived, revived + 1);

  await closeRedis(conn);
  await new Promise((r) => setTimeout(r, 300)); // longer than the revive delay (100 ms)
  assert.equal(conn.status, 'end', 'closed on purpose stays closed');
  assert.equal(failoverStats.revived, revived + 1);
});
