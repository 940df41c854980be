/**
 * Which password goes to the Sentinels (SPEC: the Lettuce convention). The
 * URL's user:password are the data nodes'; Sentinels without a password are
 * asked without one; Sentinels that share the data nodes' password get it
 * after their NOAUTH; Sentinels with their own take ?sentinelPassword=.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { parseRedisUrl } from '../shared/config/redis-url.ts';
import { createRedis, closeRedis, waitUntilReady } from '../shared/redis/connections.ts';
import { isConveyorError } from '../shared/errors.ts';
import { startTopology, type Topology } from '../shared/testing/redis-topology.ts';
import { urlWithUser } from '../shared/testing/acl.ts';
import { spawnConveyor, listeningUrl } from '../shared/testing/processes.ts';
import { startFleet } from './chaos-harness.ts';
import { enqueue, waitForState } from './job-over-http.ts';

const DATA_PASSWORD = 'data-node-secret';

/** Connects through the Sentinels, writes a key, and reads it back from the primary; returns ACL WHOAMI. */
async function throughSentinels(topo: Topology, url: string): Promise<string> {
  const target = parseRedisUrl(url);
  const conn = createRedis(target, { role: 'producer' });
  try {
    await waitUntilReady(conn, target.redacted, 5000);
    const key = `sentinel-auth:${Date.now()}`;
    await conn.set(key, 'ok');
    assert.equal(await topo.primary.client().get(key), 'ok');
    return String(await conn.call('ACL', 'WHOAMI'));
  } finally {
    await closeRedis(conn);
  }
}

/** ioredis prints "[WARN] ... does not require a password, but a password was supplied" on console.warn. */
async function warningsDuring<T>(fn: () => Promise<T>): Promise<{ result: T; warnings: string[] }> {
  const warnings: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => warnings.push(args.map(String).join(' '));
  try {
    return { result: await fn(), warnings };
  } finally {
    console.warn = original;
  }
}

async function sentinels(topo: Topology, ...acl: string[]): Promise<void> {
  await Promise.all(topo.sentinels.map((s) => s.call('ACL', ...acl)));
}

test('Sentinels without a password, data nodes with one: the URL password reaches the data nodes only; server and worker run a job', async (t) => {
  const topo = await startTopology({ replicas: 1, password: DATA_PASSWORD });
  t.after(() => topo.stop());
  await sentinels(topo, 'SETUSER', 'default', 'nopass');

  const { result, warnings } = await warningsDuring(() => throughSentinels(topo, topo.sentinelUrl));
  assert.equal(result, 'default');
  assert.deepEqual(warnings, [], 'no password was sent to a Sentinel that has none');

  const fleet = await startFleet(topo.sentinelUrl, { workers: 1 });
  t.after(() => fleet.stop());
  const id = await enqueue(fleet.url, fleet.queue, { name: 'noop' });
  await waitForState(fleet.url, fleet.queue, id, 'completed');
  for (const p of fleet.all()) {
    const bad = p.lines.find((l) => l.raw.includes(DATA_PASSWORD) || l.raw.includes('[WARN]'));
    assert.equal(bad, undefined, `${p.kind} printed: ${bad?.raw}`);
  }
});

test('Sentinels with the data nodes\' password: after their NOAUTH the URL password is used for them too', async (t) => {
  const topo = await startTopology({ replicas: 1, password: DATA_PASSWORD });
  t.after(() => topo.stop());
  const anonymous = new Redis({ port: topo.sentinels[0]!.port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null });
  anonymous.on('error', () => {});
  t.after(() => anonymous.disconnect());
  await assert.rejects(anonymous.call('SENTINEL', 'MASTERS'), /NOAUTH/);
  const { result, warnings } = await warningsDuring(() => throughSentinels(topo, topo.sentinelUrl));
  assert.equal(result, 'default');
  assert.deepEqual(warnings, []);
});

test('an ACL user the Sentinels do not know: they are asked without credentials, the data nodes get the user', async (t) => {
  const alice = { name: 'alice', password: 'alice-secret' };
  const topo = await startTopology({ replicas: 1, aclUsers: [alice] });
  t.after(() => topo.stop());
  await sentinels(topo, 'DELUSER', 'alice');
  assert.equal(await throughSentinels(topo, urlWithUser(topo.sentinelUrl, alice)), 'alice');
});

test('Sentinels with a password of their own: ?sentinelPassword= works; without it the start fails naming ?sentinelPassword', async (t) => {
  const topo = await startTopology({ replicas: 1, password: DATA_PASSWORD });
  t.after(() => topo.stop());
  await sentinels(topo, 'SETUSER', 'default', 'resetpass', '>sentinel-own-secret');

  const own = topo.sentinelUrl.replace('#', '?sentinelPassword=sentinel-own-secret#');
  assert.equal(parseRedisUrl(own).redacted.includes('sentinel-own-secret'), false);
  assert.equal(await throughSentinels(topo, own), 'default');
  // A process on that URL runs, and prints neither password.
  const server = spawnConveyor('server', { REDIS_URL: own, API_PORT: '0' });
  t.after(() => server.stop('SIGKILL'));
  await listeningUrl(server);
  await server.waitForLine('"startup checks done"', (j) => j.msg === 'startup checks done');
  const leaked = server.lines.find((l) => l.raw.includes('sentinel-own-secret') || l.raw.includes(DATA_PASSWORD));
  assert.equal(leaked, undefined, `the server printed a password: ${leaked?.raw}`);
  assert.ok(server.lines.some((l) => l.raw.includes('sentinelPassword=***')), 'the redacted URL is logged');

  await assert.rejects(throughSentinels(topo, topo.sentinelUrl), (err: unknown) => {
    assert.ok(isConveyorError(err, 'REDIS_AUTH_FAILED'), String(err));
    assert.match(err.message, /Sentinels at .* refused the credentials/);
    assert.match(err.message, /\?sentinelPassword=/);
    assert.ok(!err.message.includes(DATA_PASSWORD));
    return true;
  });
});
