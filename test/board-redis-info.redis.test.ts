/** The Redis page's data: role, memory and policy, persistence, replicas with lag; and the overview's policy alert. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { openCore, testConfig, type Core } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { silentLogger } from '../shared/log.ts';
import { redisOverview } from '../shared/redis/redis-info.ts';
import { createApp } from '../dashboard/app.ts';
import type { AddressInfo } from 'node:net';

let primary: RedisProcess;
let replica: RedisProcess;
let core: Core;

before(async () => {
  primary = await startRedis({ args: ['--maxmemory', '64mb'] });
  replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
  core = await openCore(testConfig(primary.url));
});
after(async () => {
  await core.close();
  await replica.stop();
  await primary.stop();
});

test('a primary with a replica: role, version, memory against maxmemory, policy, persistence and the replica with its offset', async () => {
  await waitFor('replica online', async () => /slave0:.*state=online/.test(String(await primary.client().info('replication'))));
  await core.producer.enqueue('info-q', { name: 'noop', data: { pad: 'x'.repeat(1000) } });
  const o = await redisOverview(core.conn, testConfig(primary.url).redis);
  assert.equal(o.kind, 'standalone');
  assert.equal(o.nodes.length, 1);
  const n = o.nodes[0]!;
  assert.equal(n.role, 'master');
  assert.match(n.version ?? '', /^\d+\.\d+/);
  assert.equal(n.maxMemoryBytes, 64 * 1024 * 1024);
  assert.ok((n.usedMemoryBytes ?? 0) > 0);
  assert.equal(n.maxmemoryPolicy, 'noeviction');
  assert.equal(n.persistence.saveConfig, '', 'the test Redis runs with save ""');
  assert.equal(n.aofEnabled, false);
  assert.ok((n.clients.connected ?? 0) >= 1);
  await waitFor('replica caught up', async () => {
    const r = (await redisOverview(core.conn, testConfig(primary.url).redis)).nodes[0]!.replicas[0];
    return r && r.state === 'online' && r.behindBytes === 0 ? r : undefined;
  });
  const again = (await redisOverview(core.conn, testConfig(primary.url).redis)).nodes[0]!;
  assert.equal(again.replicas.length, 1);
  assert.equal(again.replicas[0]!.address, `127.0.0.1:${replica.port}`);
  assert.ok((again.replicas[0]!.offset ?? 0) > 0);
  assert.ok(o.warnings.some((w) => /persistence looks off/.test(w.text)), 'no AOF and no RDB: warned');
  assert.ok(!o.warnings.some((w) => /maxmemory-policy/.test(w.text)));
  assert.equal(o.sentinel, undefined, 'no Sentinel URL, no Sentinel view');
});

test('a policy other than noeviction is a warning on the Redis page and an alert on the overview', async () => {
  const r = primary.client();
  await r.config('SET', 'maxmemory-policy', 'allkeys-lru');
  try {
    const o = await redisOverview(core.conn, testConfig(primary.url).redis);
    assert.ok(o.warnings.some((w) => w.level === 'bad' && /allkeys-lru/.test(w.text)));
    const app = createApp({ queues: core.queues, inspector: core.inspector, logger: silentLogger, redisLabel: primary.url });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((res) => server.once('listening', res));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const home = await (await fetch(`${base}/`, { headers: { accept: 'text/html' } })).text();
      assert.match(home, /class="alert bad"><div>Redis <b>maxmemory-policy<\/b> is <code>allkeys-lru<\/code>/);
      const page = await (await fetch(`${base}/redis`, { headers: { accept: 'text/html' } })).text();
      assert.match(page, /loses jobs/);
      assert.match(page, new RegExp(`127\\.0\\.0\\.1:${replica.port}`));
    } finally {
      server.closeAllConnections();
      await new Promise((res) => server.close(res));
    }
  } finally {
    await r.config('SET', 'maxmemory-policy', 'noeviction');
  }
});
