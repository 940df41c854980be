/**
 * Startup checks against Redis servers configured each way: eviction,
 * persistence off, a replica, a Sentinel, CONFIG refused (a managed service or
 * a restricted ACL user). The library judges; the processes print one warning
 * per finding and none on a good configuration.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRedisUrl } from '../shared/config/redis-url.ts';
import { createRedis, closeRedis, waitUntilReady } from '../shared/redis/connections.ts';
import { inspectRedisSetup, parseInfo, type StartupReport } from '../shared/redis/startup-checks.ts';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { aclArgs, urlWithUser } from '../shared/testing/acl.ts';
import { freePort } from '../shared/testing/free-port.ts';
import { sentinelId, writeSentinelConf } from '../shared/testing/topology-files.ts';
import { spawnConveyor, type ConveyorProcess, type ProcessKind } from '../shared/testing/processes.ts';

const managed = { name: 'managed', password: 'managed-pw', rules: ['~*', '&*', '+@all', '-config'] };
let good: RedisProcess;
let bad: RedisProcess;
let replica: RedisProcess;

before(async () => {
  [good, bad] = await Promise.all([
    startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'everysec'] }),
    // startRedis already turns persistence off (--save "" --appendonly no).
    startRedis({ args: ['--maxmemory-policy', 'allkeys-lru', ...aclArgs([managed])] }),
  ]);
  replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(good.port), '--appendonly', 'yes'] });
});
after(async () => {
  await Promise.all([good?.stop(), bad?.stop(), replica?.stop()]);
});

async function inspect(url: string): Promise<StartupReport> {
  const target = parseRedisUrl(url);
  const conn = createRedis(target, { role: 'inspector' });
  try {
    await waitUntilReady(conn, target.redacted, 5000);
    return await inspectRedisSetup(conn);
  } finally {
    await closeRedis(conn);
  }
}

const checks = (r: StartupReport) => r.findings.map((f) => f.check).sort();

test('parseInfo reads INFO key:value lines and skips section headers', () => {
  assert.deepEqual(parseInfo('# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n# Memory\r\nmaxmemory_policy:noeviction\r\n'), {
    role: 'master', connected_slaves: '0', maxmemory_policy: 'noeviction',
  });
});

test('a good primary (noeviction, AOF): no findings', async () => {
  const r = await inspect(good.url);
  assert.deepEqual(r.findings, []);
  assert.deepEqual(r.skipped, []);
  assert.equal(r.source, 'config');
});

test('allkeys-lru and no persistence: two findings, each naming the fix', async () => {
  const r = await inspect(bad.url);
  assert.deepEqual(checks(r), ['maxmemory-policy', 'persistence']);
  const policy = r.findings.find((f) => f.check === 'maxmemory-policy')!;
  assert.match(policy.message, /maxmemory-policy is allkeys-lru, not noeviction/);
  assert.match(policy.message, /Set maxmemory-policy noeviction/);
  assert.match(r.findings.find((f) => f.check === 'persistence')!.message, /appendonly yes, appendfsync everysec/);
});

test('a replica: the role finding names its primary and the primary endpoint; persistence is not judged there', async () => {
  const r = await inspect(replica.url);
  assert.deepEqual(checks(r), ['role']);
  assert.match(r.findings[0]!.message, new RegExp(`points at a replica \\(its primary is 127\\.0\\.0\\.1:${good.port}\\)`));
  assert.match(r.findings[0]!.message, /primary endpoint, not the reader endpoint/);
});

test('CONFIG refused (managed service, restricted ACL user): eviction still found through INFO, persistence skipped, not guessed', async () => {
  const r = await inspect(urlWithUser(bad.url, managed));
  assert.equal(r.source, 'info');
  assert.deepEqual(checks(r), ['maxmemory-policy']);
  assert.deepEqual(r.skipped.map((s) => s.check), ['persistence']);
  assert.match(r.skipped[0]!.reason, /CONFIG GET save is refused/);
});

test('a Sentinel given as redis://: the role finding says to use redis-sentinel://', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-lone-sentinel-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = writeSentinelConf({
    dir, myId: sentinelId(), masterName: 'm', primaryPort: good.port, quorum: 1, downAfterMs: 5000, failoverTimeoutMs: 5000,
    parallelSyncs: 1, replicaPorts: [], peers: [],
  });
  const sentinel = await startRedis({ port: await freePort(), dir, configFile, sentinel: true });
  t.after(() => sentinel.stop());
  const r = await inspect(sentinel.url);
  assert.deepEqual(checks(r), ['role']);
  assert.match(r.findings[0]!.message, /points at a Sentinel.*redis-sentinel:\/\//);
});

/** Starts `kind`, waits for "startup checks done", returns its warn lines that carry a check. */
async function warningsOf(kind: ProcessKind, url: string): Promise<{ p: ConveyorProcess; warnings: Record<string, any>[] }> {
  const p = spawnConveyor(kind, { REDIS_URL: url, API_PORT: '0', DASHBOARD_PORT: '0' });
  await p.waitForLine('"startup checks done"', (j) => j.msg === 'startup checks done', 30_000);
  const warnings = p.lines.filter((l) => l.json?.level === 40 && typeof l.json.check === 'string').map((l) => l.json!);
  return { p, warnings };
}

const KINDS: ProcessKind[] = ['server', 'worker', 'dashboard'];

test('server, worker and dashboard on a bad Redis: one warning line per finding; on a good Redis: none', async () => {
  const runs = await Promise.all(KINDS.flatMap((k) => [warningsOf(k, bad.url), warningsOf(k, good.url)]));
  try {
    KINDS.forEach((kind, i) => {
      const onBad = runs[2 * i]!.warnings;
      const onGood = runs[2 * i + 1]!.warnings;
      assert.deepEqual(onBad.map((w) => w.check).sort(), ['maxmemory-policy', 'persistence'], `${kind} on the bad Redis`);
      assert.ok(onBad.every((w) => typeof w.msg === 'string' && !w.msg.includes('\n')), 'one line each');
      assert.deepEqual(onGood, [], `${kind} on the good Redis`);
    });
  } finally {
    await Promise.all(runs.map((r) => r.p.stop()));
  }
});

test('a worker pointed at a replica warns that writes fail with READONLY', async () => {
  const { p, warnings } = await warningsOf('worker', replica.url);
  try {
    assert.deepEqual(warnings.map((w) => w.check), ['role']);
    assert.match(warnings[0]!.msg, /every enqueue and every job update fails with READONLY/);
  } finally {
    await p.stop('SIGKILL');
  }
});
