/**
 * The high-availability test harness itself: a Sentinel topology that starts
 * fast and fails over on demand, on SIGKILL and on SIGSTOP; the TCP proxy that
 * plays a managed endpoint; TLS-only and ACL-protected redis-servers.
 * Timings are logged so a slow machine shows up in the output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Redis, type RedisOptions } from 'ioredis';
import { startTopology, type Topology } from './redis-topology.ts';
import { startProxy } from './tcp-proxy.ts';
import { startTlsRedis, redisTlsUnsupported } from './tls-certs.ts';
import { aclArgs, urlWithUser } from './acl.ts';
import { startRedis } from './redis-process.ts';
import { parseRedisUrl } from '../config/redis-url.ts';
import { createRedis, closeRedis, waitUntilReady } from '../redis/connections.ts';

const since = (t: number) => Math.round(performance.now() - t);

async function sentinelsName(topo: Topology): Promise<number[]> {
  const out: number[] = [];
  for (const s of topo.sentinels.filter((n) => n.answering())) {
    const r = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', topo.masterName)) as string[];
    out.push(Number(r[1]));
  }
  return out;
}

/** A client that fails instead of retrying, for asserting failures. */
function oneShot(port: number, extra: RedisOptions = {}): Redis & { firstError: Promise<Error> } {
  const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000, ...extra });
  const firstError = new Promise<Error>((resolve) => c.on('error', resolve));
  return Object.assign(c, { firstError });
}

test('a topology starts with linked replicas and sentinels that know every node; a write on the primary reaches the replicas; stop() leaves nothing behind', async (t) => {
  const topo = await startTopology();
  t.after(() => topo.stop());
  console.log(`[harness] topology (1 primary, 2 replicas, 3 sentinels) ready in ${topo.startupMs} ms`);

  assert.match(topo.sentinelUrl, /^redis-sentinel:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+#conveyor$/);
  assert.equal((await topo.currentPrimary()).port, topo.primary.port);
  assert.equal(await topo.primary.role(), 'master');
  for (const r of topo.replicas) assert.deepEqual(await r.replicaLink(), { primaryPort: topo.primary.port, connected: true });
  for (const s of topo.sentinels) {
    assert.equal(((await s.call('SENTINEL', 'REPLICAS', 'conveyor')) as unknown[]).length, 2);
    assert.equal(((await s.call('SENTINEL', 'SENTINELS', 'conveyor')) as unknown[]).length, 2);
  }

  const primary = topo.primary.client();
  await primary.set('harness:key', 'written-on-primary');
  assert.equal(await primary.wait(2, 2000), 2, 'both replicas acknowledged the write');
  for (const r of topo.replicas) assert.equal(await r.client().get('harness:key'), 'written-on-primary');

  const procs = [...topo.dataNodes, ...topo.sentinels].map((n) => n.proc);
  const dirs = [...topo.dataNodes, ...topo.sentinels].map((n) => n.dir);
  await topo.stop();
  for (const p of procs) assert.ok(p.exitCode !== null || p.signalCode !== null, `pid ${p.pid} still runs`);
  for (const d of dirs) assert.equal(existsSync(d), false, `${d} was not removed`);
});

test('failover() promotes a replica, every sentinel names it, and the old primary comes back as its replica', async (t) => {
  const topo = await startTopology();
  t.after(() => topo.stop());
  await topo.primary.client().set('before-failover', '1');
  assert.equal(await topo.primary.client().wait(2, 2000), 2);

  const { primary, previous, ms } = await topo.failover();
  console.log(`[harness] SENTINEL FAILOVER: sentinels agree on the new primary after ${ms} ms`);
  assert.equal(previous, topo.primary);
  assert.ok(topo.replicas.includes(primary), 'a former replica was promoted');
  assert.equal(await primary.role(), 'master');
  assert.deepEqual(await sentinelsName(topo), [primary.port, primary.port, primary.port]);
  assert.equal(await primary.client().get('before-failover'), '1');

  const t0 = performance.now();
  await topo.waitForReplica(previous);
  console.log(`[harness] old primary reconfigured as a replica ${since(t0)} ms later`);
  assert.equal(await previous.role(), 'slave');
});

test('SIGKILL of the primary: the sentinels promote a replica; restart() brings the old primary back as a replica', async (t) => {
  const topo = await startTopology({ downAfterMs: 1000 });
  t.after(() => topo.stop());
  const old = topo.primary;
  await old.client().set('before-kill', 'kept');
  assert.equal(await old.client().wait(2, 2000), 2);

  const t0 = performance.now();
  old.kill('SIGKILL');
  const { primary } = await topo.waitForPrimaryChange(old.port, 30_000);
  const ms = since(t0);
  console.log(`[harness] SIGKILL primary: promotion agreed by the sentinels after ${ms} ms (down-after 1000 ms)`);
  assert.ok(ms >= 1000, 'no promotion before down-after-milliseconds');
  assert.ok(topo.replicas.includes(primary));
  assert.equal(old.alive(), false);
  assert.equal(await primary.client().get('before-kill'), 'kept');

  const t1 = performance.now();
  await topo.restart(old);
  await topo.waitForReplica(old);
  console.log(`[harness] killed primary restarted and linked as a replica after ${since(t1)} ms`);
  assert.equal((await old.replicaLink())?.primaryPort, primary.port);
});

test('SIGSTOP of the primary past down-after: a replica is promoted; on SIGCONT the sentinels turn the old primary into a replica', async (t) => {
  const topo = await startTopology({ downAfterMs: 1000 });
  t.after(() => topo.stop());
  const old = topo.primary;

  const t0 = performance.now();
  old.pause();
  const { primary } = await topo.waitForPrimaryChange(old.port, 30_000);
  const ms = since(t0);
  console.log(`[harness] SIGSTOP primary: promotion agreed by the sentinels after ${ms} ms`);
  assert.ok(ms >= 1000);
  assert.notEqual(primary, old);

  const t1 = performance.now();
  old.resume();
  await topo.waitForReplica(old);
  console.log(`[harness] SIGCONT: old primary demoted to a replica of the new one after ${since(t1)} ms`);
  assert.equal(await old.role(), 'slave');
  await topo.settled();
});

test('a password and an ACL user: sentinels authenticate, and the sentinel URL with the user reaches the primary through the core', async (t) => {
  const alice = { name: 'alice', password: 'p@ss word:/#' };
  const topo = await startTopology({ replicas: 1, sentinels: 3, password: 'top secret', aclUsers: [alice] });
  t.after(() => topo.stop());
  assert.match(topo.sentinelUrl, /^redis-sentinel:\/\/:top%20secret@127\.0\.0\.1:/);

  const target = parseRedisUrl(urlWithUser(topo.sentinelUrl, alice));
  assert.equal(target.kind, 'sentinel');
  const conn = createRedis(target, { role: 'producer' });
  t.after(() => closeRedis(conn));
  await waitUntilReady(conn, target.redacted, 5000);
  assert.equal(await conn.call('ACL', 'WHOAMI'), 'alice');
  await conn.set('via-sentinel', 'ok');
  assert.equal(await topo.primary.client().get('via-sentinel'), 'ok');

  const anonymous = oneShot(topo.sentinels[0]!.port);
  t.after(() => anonymous.disconnect());
  await assert.rejects(anonymous.call('SENTINEL', 'MASTERS'), /NOAUTH/);
});

test('an ACL user with its password connects; a wrong password is refused', async (t) => {
  const bob = { name: 'bob', password: 'right "horse" battery' };
  const redis = await startRedis({ args: aclArgs([bob]) });
  t.after(() => redis.stop());

  const good = oneShot(redis.port, { username: bob.name, password: bob.password });
  t.after(() => good.disconnect());
  assert.equal(await good.call('ACL', 'WHOAMI'), 'bob');

  const bad = oneShot(redis.port, { username: bob.name, password: 'wrong' });
  t.after(() => bad.disconnect());
  await assert.rejects(bad.ping(), /WRONGPASS/);
});

test('the proxy forwards PING, switchTo moves new connections, dropConnections moves old ones', async (t) => {
  const [a, b] = await Promise.all([startRedis(), startRedis()]);
  t.after(() => Promise.all([a!.stop(), b!.stop()]));
  await a!.client().set('who', 'a');
  await b!.client().set('who', 'b');
  const proxy = await startProxy({ target: { host: '127.0.0.1', port: a!.port } });
  t.after(() => proxy.stop());

  const first = new Redis(proxy.url(), { maxRetriesPerRequest: 1 });
  first.on('error', () => {});
  t.after(() => first.disconnect());
  assert.equal(await first.ping(), 'PONG');
  assert.equal(await first.get('who'), 'a');

  proxy.switchTo({ host: '127.0.0.1', port: b!.port });
  assert.equal(await first.get('who'), 'a', 'an open connection stays on the old backend');
  const second = new Redis(proxy.url());
  t.after(() => second.disconnect());
  assert.equal(await second.get('who'), 'b');
  assert.equal(proxy.stats().accepted, 2);
  assert.deepEqual(proxy.stats().byTarget, { [`127.0.0.1:${a!.port}`]: 1, [`127.0.0.1:${b!.port}`]: 1 });

  proxy.dropConnections();
  assert.equal(await first.get('who'), 'b', 'ioredis reconnected through the proxy to the new backend');
  assert.equal(await second.get('who'), 'b');
  assert.equal(proxy.stats().accepted, 4, 'both clients reconnected');
  assert.equal(proxy.stats().active, 2);
});

test('freeze makes a PING time out without closing the socket; thaw answers again', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const proxy = await startProxy({ target: { host: '127.0.0.1', port: redis.port } });
  t.after(() => proxy.stop());
  const c = new Redis(proxy.url(), { commandTimeout: 300, maxRetriesPerRequest: 0 });
  c.on('error', () => {});
  t.after(() => c.disconnect());
  assert.equal(await c.ping(), 'PONG');

  proxy.freeze();
  const t0 = performance.now();
  await assert.rejects(c.ping(), /timed out/i);
  assert.ok(since(t0) >= 290 && since(t0) < 10_000, 'the command timeout ended it (not before it; never a hang)');
  assert.equal(c.status, 'ready', 'the socket stayed open');
  assert.equal(proxy.stats().active, 1);

  proxy.thaw();
  assert.equal(await c.ping(), 'PONG');
});

test('refuse() makes the endpoint unreachable (ECONNREFUSED, or ECONNRESET in reset mode) until accept()', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const proxy = await startProxy({ target: { host: '127.0.0.1', port: redis.port } });
  t.after(() => proxy.stop());
  const tryConnect = (port: number) =>
    new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      s.on('data', () => {
        resolve('answered');
        s.destroy();
      });
      s.on('connect', () => s.write('PING\r\n'));
      s.on('close', () => resolve('closed'));
    });

  assert.equal(await tryConnect(proxy.port), 'answered');
  await proxy.refuse();
  assert.equal(await tryConnect(proxy.port), 'ECONNREFUSED');
  await proxy.accept();
  assert.equal(await tryConnect(proxy.port), 'answered');
  await proxy.refuse({ mode: 'reset' });
  assert.equal(await tryConnect(proxy.port), 'ECONNRESET');
  assert.equal(proxy.stats().refused, 1);
  await proxy.accept();
  assert.equal(await tryConnect(proxy.port), 'answered');
});

test('TLS: a rediss:// client with the CA gets PONG; a plain client or one without the CA fails within seconds', async (t) => {
  const unsupported = await redisTlsUnsupported();
  if (unsupported) return t.skip(unsupported);
  const redis = await startTlsRedis();
  t.after(() => redis.stop());
  assert.match(redis.url, /^rediss:\/\/127\.0\.0\.1:\d+$/);
  assert.match(redis.ca, /BEGIN CERTIFICATE/);

  const good = new Redis(redis.url, { tls: { ca: redis.ca } });
  t.after(() => good.disconnect());
  assert.equal(await good.ping(), 'PONG');

  const t0 = performance.now();
  const plain = oneShot(redis.port);
  t.after(() => plain.disconnect());
  await assert.rejects(plain.ping());
  assert.match((await plain.firstError).message, /ECONNRESET|EPIPE|socket hang up/, 'the TLS port hung up on plain text');
  const untrusted = oneShot(redis.port, { tls: {} });
  t.after(() => untrusted.disconnect());
  await assert.rejects(untrusted.ping());
  assert.match((await untrusted.firstError).message, /self-signed certificate/);
  assert.ok(since(t0) < 30_000, `never a hang: the failures took ${since(t0)} ms`);
});

test('a TLS topology: sentinels and replication over TLS, rediss-sentinel:// reaches the primary through the core, failover works', async (t) => {
  const unsupported = await redisTlsUnsupported();
  if (unsupported) return t.skip(unsupported);
  const topo = await startTopology({ replicas: 1, tls: true });
  t.after(() => topo.stop());
  console.log(`[harness] TLS topology (1 primary, 1 replica, 3 sentinels) ready in ${topo.startupMs} ms`);
  assert.match(topo.sentinelUrl, /^rediss-sentinel:\/\//);

  const target = parseRedisUrl(topo.sentinelUrl);
  const conn = createRedis(target, { role: 'producer', tlsCa: topo.ca });
  t.after(() => closeRedis(conn));
  await waitUntilReady(conn, target.redacted, 5000);
  await conn.set('over-tls', 'yes');
  assert.equal(await topo.primary.client().get('over-tls'), 'yes');

  const plain = oneShot(topo.primary.port);
  t.after(() => plain.disconnect());
  await assert.rejects(plain.ping(), 'the data nodes listen on TLS only');

  const { primary, ms } = await topo.failover();
  console.log(`[harness] TLS SENTINEL FAILOVER agreed after ${ms} ms`);
  assert.equal(primary, topo.replicas[0]);
});
