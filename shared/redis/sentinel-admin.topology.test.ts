/**
 * sentinelView and triggerFailover against a real topology (Sentinels with
 * the data nodes' password, so the credential fallback is exercised too).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseRedisUrl } from '../config/redis-url.ts';
import { isConveyorError } from '../errors.ts';
import { startTopology, type Topology } from '../testing/redis-topology.ts';
import { freePort } from '../testing/free-port.ts';
import { waitFor } from '../testing/wait-for.ts';
import { sentinelView, triggerFailover } from './sentinel-admin.ts';

let topo: Topology;
before(async () => {
  topo = await startTopology({ replicas: 2, sentinels: 3, password: 'admin-secret' });
});
after(async () => {
  await topo?.stop();
});

test('sentinelView: the primary all Sentinels agree on, the quorum, CKQUORUM, both replicas linked', async () => {
  // The Sentinels learn a replica's link state from INFO every second: on a loaded
  // machine a fresh topology can be reported before they have seen both links up.
  const v = await waitFor('the Sentinels to report both replicas linked', async () => {
    const view = await sentinelView(parseRedisUrl(topo.sentinelUrl));
    return view.replicas.length === 2 && view.replicas.every((r) => r.linkUp && r.flags === 'slave') ? view : undefined;
  }, { timeoutMs: 15_000, intervalMs: 200 });
  assert.equal(v.masterName, 'conveyor');
  assert.equal(v.primary, `127.0.0.1:${topo.primary.port}`);
  assert.equal(v.agreed, true);
  assert.equal(v.quorum, 2);
  assert.equal(v.primaryFlags, 'master');
  assert.match(v.ckquorum ?? '', /^OK 3 usable Sentinels/);
  assert.deepEqual(v.sentinels.map((s) => s.answering), [true, true, true]);
  assert.deepEqual(v.replicas.map((r) => r.address).sort(), topo.replicas.map((r) => `127.0.0.1:${r.port}`).sort());
  assert.ok(v.replicas.every((r) => r.linkUp && r.flags === 'slave'));
});

test('triggerFailover: old → new primary, timed until the Sentinels agree and the new one answers ROLE master', async () => {
  const r = await triggerFailover(parseRedisUrl(topo.sentinelUrl));
  assert.equal(r.from, `127.0.0.1:${topo.primary.port}`);
  assert.notEqual(r.to, r.from);
  const now = await topo.currentPrimary();
  assert.equal(r.to, `127.0.0.1:${now.port}`);
  assert.equal(await now.node!.role(), 'master');
  assert.ok(r.ms > 0 && r.ms < 10_000, `${r.ms} ms`);
  console.log(`  failover ${r.from} → ${r.to} in ${r.ms} ms`);
  await topo.settled();
});

test('not a Sentinel URL: CONFIG_INVALID naming the provider\'s way; no Sentinel answering: REDIS_UNAVAILABLE', async () => {
  await assert.rejects(triggerFailover(parseRedisUrl(topo.primary.url)), (err: unknown) => isConveyorError(err, 'CONFIG_INVALID') && /test-failover/.test(err.message));
  const dead = parseRedisUrl(`redis-sentinel://127.0.0.1:${await freePort()}#conveyor`);
  await assert.rejects(sentinelView(dead), (err: unknown) => isConveyorError(err, 'REDIS_UNAVAILABLE') && /No Sentinel of .* answered/.test(err.message));
});
