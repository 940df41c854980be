/**
 * TLS end to end with real processes: the API server and a worker against a
 * TLS-only redis-server (rediss:// + REDIS_TLS_CA), and against a TLS
 * Sentinel topology (rediss-sentinel://), where a job enqueued after a
 * failover still completes. Passwords never appear in what the processes print.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTlsRedis } from '../shared/testing/tls-certs.ts';
import { startTopology } from '../shared/testing/redis-topology.ts';
import { startFleet, type Fleet } from './chaos-harness.ts';
import { enqueue, waitForState } from './job-over-http.ts';

function assertNoSecret(fleet: Fleet, secret: string): void {
  for (const p of fleet.all()) {
    const leaked = p.lines.find((l) => l.raw.includes(secret));
    assert.equal(leaked, undefined, `${p.kind} printed the password: ${leaked?.raw}`);
  }
}

test('rediss:// with REDIS_TLS_CA: a job enqueued over HTTP completes on a TLS-only Redis; no password in any output', async (t) => {
  const password = 'tls-standalone-secret';
  const redis = await startTlsRedis({ password });
  t.after(() => redis.stop());
  const fleet = await startFleet(`rediss://:${password}@127.0.0.1:${redis.port}`, { workers: 1, env: { REDIS_TLS_CA: redis.certs.caFile } });
  t.after(() => fleet.stop());

  const id = await enqueue(fleet.url, fleet.queue, { name: 'noop', data: { tls: true } });
  const { ms } = await waitForState(fleet.url, fleet.queue, id, 'completed');
  console.log(`  rediss://: enqueued → completed in ${ms} ms`);
  const ready = await fetch(`${fleet.url}/readyz`);
  assert.equal(ready.status, 200);
  assertNoSecret(fleet, password);
});

test('rediss-sentinel:// with REDIS_TLS_CA: TLS Sentinels (same password as the data nodes) lead to the primary, and again after a failover', async (t) => {
  const password = 'tls-sentinel-secret';
  const topo = await startTopology({ tls: true, replicas: 1, password });
  t.after(() => topo.stop());
  assert.match(topo.sentinelUrl, /^rediss-sentinel:\/\//);
  const fleet = await startFleet(topo.sentinelUrl, { workers: 1, env: { REDIS_TLS_CA: topo.certs!.caFile } });
  t.after(() => fleet.stop());

  const first = await enqueue(fleet.url, fleet.queue, { name: 'noop' });
  await waitForState(fleet.url, fleet.queue, first, 'completed');

  const { primary, previous, ms: failoverMs } = await topo.failover();
  assert.notEqual(primary.port, previous.port);
  const upAt = Date.now();
  // The server may answer 503 for a moment while it follows the Sentinels.
  let id: string | undefined;
  while (id === undefined) {
    const res = await fetch(`${fleet.url}/v1/queues/${fleet.queue}/jobs`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'noop' }),
    });
    const body = (await res.json()) as { id?: string };
    if (res.status === 201) id = String(body.id);
    else assert.equal(res.status, 503, `after the failover: ${res.status} ${JSON.stringify(body)}`);
    assert.ok(Date.now() - upAt < 10_000, 'enqueue works again within 10 s of the new primary');
  }
  const { job } = await waitForState(fleet.url, fleet.queue, id, 'completed');
  const onNewPrimary = await primary.client().exists(`conveyor:{${fleet.queue}}:${id}`);
  assert.equal(onNewPrimary, 1, 'the job lives on the new primary');
  console.log(`  rediss-sentinel://: failover ${failoverMs} ms; a job enqueued after it completed ${Date.parse(job.finishedAt) - upAt} ms after the new primary was up`);
  for (const p of fleet.all()) assert.equal(p.exitCode(), undefined, `${p.kind} is still running`);
  assertNoSecret(fleet, password);
});
