/**
 * The ACL rule documented in docs/operations.md, exactly as written there, is
 * enough for the whole platform: server, worker and dashboard processes on a
 * Sentinel topology as that user run enqueue (single, bulk, idempotent,
 * durable with WAIT), processing, dead letters and replay, queue pause and
 * resume, schedules, readiness, metrics and the board, also after a failover.
 * Redis' ACL LOG then holds no denial except CONFIG GET, which the startup
 * checks try first and replace with INFO, and CLIENT LIST, which only the
 * worker-connection counts (bull-board, conveyor_queue_workers) use and do
 * without (the documented optional +client|list).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { join } from 'node:path';
import { startTopology, type TopologyNode } from '../shared/testing/redis-topology.ts';
import { urlWithUser, type AclUser } from '../shared/testing/acl.ts';
import { spawnConveyor, listeningUrl, type ConveyorProcess } from '../shared/testing/processes.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { call, enqueue, waitForState } from './job-over-http.ts';

const DOC = readFileSync(join(import.meta.dirname, '..', 'docs', 'operations.md'), 'utf8');

/** The documented line: `user conveyor on >CHANGE-ME <rules...>`. */
function documentedUser(password: string): AclUser {
  const line = DOC.split('\n').find((l) => /^user conveyor on >CHANGE-ME /.test(l));
  assert.ok(line, 'docs/operations.md has the "user conveyor on >CHANGE-ME ..." line');
  return { name: 'conveyor', password, rules: line.split(/\s+/).slice(4) };
}

/** ACL LOG entries (reason, command or key or channel) of one node. */
async function denials(node: TopologyNode): Promise<string[]> {
  const log = (await node.call('ACL', 'LOG')) as unknown[][];
  return log.map((entry) => {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < entry.length; i += 2) f[String(entry[i])] = String(entry[i + 1]);
    return `${f.reason} ${f.object} (${f.username})`;
  });
}

/** Denials the rule accepts on purpose (docs/operations.md says why). */
const EXPECTED_DENIALS = /^command (config\|get|client\|list) \(conveyor\)$/;

test('the documented ACL rule runs the whole platform; ACL LOG denies nothing but CONFIG GET and CLIENT LIST', async (t) => {
  assert.match(DOC, /\+client\|list/, 'the doc names the optional +client|list');
  const user = documentedUser('acl-user-secret');
  const topo = await startTopology({ replicas: 1 });
  t.after(() => topo.stop());
  // On the data nodes only (ACLs do not replicate, so on each): Sentinels know no EVAL and
  // are asked anonymously (the URL's credentials are the data nodes').
  await Promise.all(topo.dataNodes.map((n) => n.call('ACL', 'SETUSER', user.name, 'on', `>${user.password}`, ...user.rules!)));
  // Restricted indeed: no FLUSHALL, no CONFIG SET, no key outside conveyor:*, not even from a script.
  const direct = new Redis({ port: topo.primary.port, host: '127.0.0.1', username: user.name, password: user.password, maxRetriesPerRequest: 0 });
  t.after(() => direct.disconnect());
  await assert.rejects(direct.flushall(), /NOPERM/);
  await assert.rejects(direct.call('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'), /NOPERM/);
  await assert.rejects(direct.set('other:key', '1'), /NOPERM/);
  await assert.rejects(direct.eval("return redis.call('set', 'other:key', 1)", 0), /NOPERM|No permissions|can't access/);
  assert.equal(await direct.set('conveyor:acl-probe', '1'), 'OK');
  await direct.call('ACL', 'LOG', 'RESET').catch(() => undefined); // denied too; the probes' entries are cleared below
  await topo.primary.call('ACL', 'LOG', 'RESET');

  const q = uniqueQueue('acl');
  const env = {
    REDIS_URL: urlWithUser(topo.sentinelUrl, user), API_PORT: '0', DASHBOARD_PORT: '0', QUEUES: q,
    ENQUEUE_MIN_REPLICAS: '1', LOCK_DURATION_MS: '3000', STALLED_INTERVAL_MS: '1000',
  };
  const procs: ConveyorProcess[] = (['server', 'worker', 'dashboard'] as const).map((k) => spawnConveyor(k, env));
  t.after(() => Promise.all(procs.map((p) => (p.exitCode() === undefined ? p.stop('SIGKILL') : undefined))));
  const [server, worker, dashboard] = procs as [ConveyorProcess, ConveyorProcess, ConveyorProcess];
  const [api, board] = await Promise.all([listeningUrl(server), listeningUrl(dashboard), worker.waitForLine('"worker started"', (j) => j.msg === 'worker started')]) as [string, string, unknown];
  const ok = (r: { status: number; json: any }, status: number, what: string) => assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json)}`);

  // Enqueue and process: single (durable: WAIT 1), idempotent, bulk, delayed and prioritised.
  const first = await enqueue(api, q, { name: 'noop', data: { n: 1 } });
  await waitForState(api, q, first, 'completed');
  ok(await call(api, 'POST', `/v1/queues/${q}/jobs`, { name: 'noop', opts: { jobId: 'same-id' } }), 201, 'jobId');
  ok(await call(api, 'POST', `/v1/queues/${q}/jobs`, { name: 'noop', opts: { jobId: 'same-id' } }), 200, 'duplicate jobId');
  const bulk = await call(api, 'POST', `/v1/queues/${q}/jobs/bulk`, { jobs: [{ name: 'noop' }, { name: 'noop', opts: { delay: 50, priority: 2 } }] });
  ok(bulk, 201, 'bulk');
  for (const id of bulk.json.ids as string[]) await waitForState(api, q, id, 'completed');

  // Dead letters: bury, list, replay one, replay all, drop one, drop all.
  const failing = await enqueue(api, q, { name: 'fail', data: { times: 100 }, opts: { attempts: 1 } });
  await waitForState(api, q, failing, 'dead');
  assert.equal((await call(api, 'GET', `/v1/queues/${q}/dead`)).json.total, 1);
  ok(await call(api, 'POST', `/v1/queues/${q}/dead/${failing}/retry`), 200, 'replay one');
  await waitForState(api, q, failing, 'dead');
  ok(await call(api, 'POST', `/v1/queues/${q}/dead/retry`), 200, 'replay all');
  await waitForState(api, q, failing, 'dead');
  ok(await call(api, 'DELETE', `/v1/queues/${q}/dead/${failing}`), 200, 'drop one');
  ok(await call(api, 'DELETE', `/v1/queues/${q}/dead`), 200, 'drop all');

  // Queues: pause, resume, list, one queue, its jobs.
  ok(await call(api, 'POST', `/v1/queues/${q}/pause`), 200, 'pause');
  ok(await call(api, 'POST', `/v1/queues/${q}/resume`), 200, 'resume');
  ok(await call(api, 'GET', '/v1/queues'), 200, 'list queues');
  ok(await call(api, 'GET', `/v1/queues/${q}/jobs?state=completed`), 200, 'list jobs');

  // Schedules: create, read, run now (the job completes), pause, resume, delete.
  ok(await call(api, 'PUT', '/v1/schedules/acl-every-minute', { queue: q, name: 'noop', cron: '* * * * *' }), 201, 'schedule');
  ok(await call(api, 'GET', '/v1/schedules'), 200, 'list schedules');
  const run = await call(api, 'POST', '/v1/schedules/acl-every-minute/run');
  assert.ok(run.status === 200 || run.status === 201, `run now: ${run.status} ${JSON.stringify(run.json)}`);
  ok(await call(api, 'POST', '/v1/schedules/acl-every-minute/pause'), 200, 'pause schedule');
  ok(await call(api, 'POST', '/v1/schedules/acl-every-minute/resume'), 200, 'resume schedule');
  ok(await call(api, 'DELETE', '/v1/schedules/acl-every-minute'), 200, 'delete schedule');

  // Health, metrics, the board.
  assert.equal((await fetch(`${api}/readyz`)).status, 200);
  assert.equal((await fetch(`${api}/metrics`)).status, 200);
  for (const path of ['/', '/queues/', `/queues/api/queues?activeQueue=${encodeURIComponent(`{${q}}`)}&page=1&jobsPerPage=10`]) {
    assert.equal((await fetch(board + path)).status, 200, `board ${path}`);
  }

  // And after a failover: the new primary serves the same user.
  const { primary } = await topo.failover();
  const after = await waitForEnqueue(api, q);
  await waitForState(api, q, after, 'completed');

  const nodes = [topo.primary, ...topo.replicas, primary].filter((n, i, all) => all.indexOf(n) === i);
  const denied = (await Promise.all(nodes.map(denials))).flat();
  const unexpected = denied.filter((d) => !EXPECTED_DENIALS.test(d));
  assert.deepEqual(unexpected, [], 'ACL LOG denials other than CONFIG GET and CLIENT LIST');
  for (const p of procs) {
    const noperm = p.lines.find((l) => /NOPERM/.test(l.raw));
    assert.equal(noperm, undefined, `${p.kind} logged ${noperm?.raw}`);
    assert.equal(p.exitCode(), undefined, `${p.kind} is running`);
  }
  console.log(`  ACL LOG on ${nodes.length} nodes: ${[...new Set(denied)].join(', ') || 'no denials'}`);
});

/** After a failover the API may answer 503 for a moment. */
async function waitForEnqueue(api: string, q: string): Promise<string> {
  const until = Date.now() + 10_000;
  for (;;) {
    const r = await call(api, 'POST', `/v1/queues/${q}/jobs`, { name: 'noop' });
    if (r.status === 201) return String(r.json.id);
    assert.equal(r.status, 503, JSON.stringify(r.json));
    assert.ok(Date.now() < until, 'enqueue works again within 10 s');
    await new Promise((res) => setTimeout(res, 100));
  }
}
