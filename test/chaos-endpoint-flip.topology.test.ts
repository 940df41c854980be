/**
 * Chaos 4: a managed primary endpoint (ElastiCache, Memorystore) flips to
 * the replica. Done the way a managed service's planned failover does it:
 * writes on the old primary are paused while the replica catches up, the
 * replica is promoted (REPLICAOF NO ONE), the old primary becomes its replica,
 * and the endpoint (here a TCP proxy, like the DNS record) moves. New
 * connections reach the new primary; connections that were open stay on the
 * old node until a write there answers READONLY, which must make the client
 * reconnect (and so reach the new primary through the endpoint).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from '../shared/testing/redis-process.ts';
import { startProxy } from '../shared/testing/tcp-proxy.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { recentFailovers } from '../shared/redis/failover-log.ts';
import { assertHealthy, printSummary, recoveryMs, startFleet, startLoad, steady, verify, workerResumeMs } from './chaos-harness.ts';

const replOffset = async (c: { info(section: string): Promise<string> }, field: string) => Number(/\b${field}:(\d+)/.exec(await c.info('replication'))?.[1] ?? -1);

test('managed-endpoint flip (replica promoted, old primary answers READONLY, endpoint switched): every acknowledged job completes, processing resumes within 10 s', async (t) => {
  const a = await startRedis();
  t.after(() => a.stop());
  const b = await startRedis({ args: ['--replicaof', '127.0.0.1', String(a.port)] });
  t.after(() => b.stop());
  const [ac, bc] = [a.client(), b.client()];
  await waitFor('the replica to link', async () => /master_link_status:up/.test(await bc.info('replication')));
  const proxy = await startProxy({ target: { host: '127.0.0.1', port: a.port } });
  t.after(() => proxy.stop());
  const fleet = await startFleet(proxy.url());
  t.after(() => fleet.stop());

  const load = startLoad(fleet, { rate: 30 });
  await steady(load);
  const flipStart = Date.now();
  // Writes on the old primary wait (not fail) while the replica catches up.
  await ac.call('CLIENT', 'PAUSE', '10000', 'WRITE');
  const target = await replOffset(ac, 'master_repl_offset');
  await waitFor('the replica to catch up', async () => (await replOffset(bc, 'slave_repl_offset')) >= target, { timeoutMs: 5000, intervalMs: 5 });
  await bc.call('REPLICAOF', 'NO', 'ONE');
  await ac.call('REPLICAOF', '127.0.0.1', String(b.port));
  proxy.switchTo({ host: '127.0.0.1', port: b.port }); // existing connections stay on a
  const upAt = Date.now();
  await ac.call('CLIENT', 'UNPAUSE'); // the held writes now meet a replica: READONLY
  await waitFor('the old primary to be a linked replica', async () => /master_link_status:up/.test(await ac.info('replication')), { timeoutMs: 10_000 });
  const enqueueBack = await load.firstAckAfter(upAt);
  await new Promise((r) => setTimeout(r, 6000));
  const result = await load.stop();
  const outcome = await verify(fleet, result.acked.keys());
  const byTarget = proxy.stats().byTarget;
  const s = {
    scenario: 'endpoint-flip',
    load: result,
    outcome,
    recoveryMs: recoveryMs(outcome, upAt),
    workerResumeMs: workerResumeMs(fleet, upAt),
    enqueueRecoveryMs: enqueueBack - upAt,
    extra: { flipMs: upAt - flipStart, connectionsToNewPrimary: byTarget[`127.0.0.1:${b.port}`] ?? 0 },
  };
  printSummary(s, fleet);
  assertHealthy(fleet, s);
  assert.ok((byTarget[`127.0.0.1:${b.port}`] ?? 0) > 0, 'clients reconnected through the endpoint to the new primary');
  // The change is in the failover log once, seen through the endpoint (node address: the proxy's, node port: the node's).
  assert.deepEqual((await recentFailovers(bc, 10)).map((e) => [e.from, e.to, e.kind]), [[`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`, 'endpoint']]);
  // Every Conveyor connection leaves the demoted primary, idle ones included
  // (subscribers, schedule keepers): their ROLE check finds a replica.
  const left = async () => String(await ac.call('CLIENT', 'LIST')).split('\n').filter((l) => /name=conveyor/.test(l)).map((l) => /name=(\S+)/.exec(l)?.[1]);
  await waitFor('every Conveyor connection to leave the demoted primary', async () => (await left()).length === 0, { timeoutMs: 12_000, intervalMs: 200 }).catch(async (err: Error) => {
    throw new Error(`${err.message}: still there: ${(await left()).join(', ')}`);
  });
});
