/**
 * Flow limits from outside: PUT/GET/DELETE /v1/queues/:queue/limits (scopes,
 * bad input → 400 naming the field, nothing changed), throttle over HTTP,
 * the CLI (`conveyor limits`), and the LIMITS file (config wins: 409 from the API).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runCliCaptured, type CliResult } from './cli-capture.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type RedisProcess } from '../shared/testing/redis-process.ts';
import { startApi, type Api } from './api-app.ts';
import { uniqueQueue, testConfig, openCore } from '../shared/testing/fixtures.ts';
import { applyLimitsFile, LimitsStore } from '../shared/flow/queue-limits.ts';
import { coreOf } from '../shared/conveyor.ts';

let redis: RedisProcess;
let api: Api;

before(async () => {
  redis = await startRedis();
  api = await startApi(redis.url, { API_TOKENS: 'admin:admin-token:admin+read+enqueue,reader:reader-token:read,producer:producer-token:enqueue' });
});
after(async () => {
  await api?.close();
  await redis?.stop();
});

const admin = { token: 'admin-token' };

function cli(...argv: string[]): Promise<CliResult> {
  return runCliCaptured({ REDIS_URL: redis.url }, argv);
}

test('PUT then GET /v1/queues/:queue/limits; BullMQ holds the queue-wide part; DELETE removes all', async () => {
  const q = uniqueQueue('limits-api');
  const limits = { concurrency: 4, rate: { max: 10, perMs: 1000 }, perKey: { concurrency: 2, overrides: { acme: { concurrency: 5 } } } };
  const put = await api.call('PUT', `/v1/queues/${q}/limits`, { ...admin, body: limits });
  assert.equal(put.status, 200, put.text);
  assert.deepEqual(put.json.limits, limits);
  assert.equal(put.json.managedBy, 'api');
  const source = coreOf(api.conveyor).queues.source(q);
  assert.equal(await source.getGlobalConcurrency(), 4, 'BullMQ global concurrency');
  const got = await api.call('GET', `/v1/queues/${q}/limits`, { token: 'reader-token' });
  assert.equal(got.status, 200);
  assert.deepEqual(got.json.limits, limits);
  assert.deepEqual(got.json.keys, []);
  assert.equal((await api.call('PUT', `/v1/queues/${q}/limits`, { token: 'reader-token', body: {} })).status, 403, 'read scope cannot set limits');
  const del = await api.call('DELETE', `/v1/queues/${q}/limits`, admin);
  assert.equal(del.status, 200);
  assert.deepEqual(del.json.limits, {});
  assert.equal(await source.getGlobalConcurrency(), null, 'BullMQ global concurrency removed');
  assert.equal((await api.call('GET', `/v1/queues/nope-${q}/limits`, admin)).status, 404);
  assert.equal((await api.call('POST', `/v1/queues/${q}/limits`, admin)).status, 405);
});

test('bad limits over HTTP: 400 naming the field, nothing changed', async () => {
  const q = uniqueQueue('limits-bad');
  await api.call('PUT', `/v1/queues/${q}/limits`, { ...admin, body: { concurrency: 3 } });
  const cases: [unknown, string][] = [
    [{ concurrency: 0 }, 'limits.concurrency'],
    [{ concurrency: 'ten' }, 'limits.concurrency'],
    [{ rate: { max: 5, perMs: 2.5 } }, 'limits.rate.perMs'],
    [{ perKey: { rate: { max: -1, perMs: 1000 } } }, 'limits.perKey.rate.max'],
    [{ perKey: { overrides: { 'bad\u0007key': { concurrency: 1 } } } }, 'limits.perKey.overrides'],
    [{ unknown: true }, 'limits'],
  ];
  for (const [body, path] of cases) {
    const r = await api.call('PUT', `/v1/queues/${q}/limits`, { ...admin, body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.error.code, 'INVALID_REQUEST');
    assert.ok(r.json.error.message.startsWith(path), `${JSON.stringify(body)} → ${r.json.error.message}`);
  }
  assert.deepEqual((await api.call('GET', `/v1/queues/${q}/limits`, admin)).json.limits, { concurrency: 3 });
});

test('opts.key, throttle and debounce over HTTP', async () => {
  const q = uniqueQueue('flow-http');
  const a = await api.call('POST', `/v1/queues/${q}/jobs`, { token: 'producer-token', body: { name: 'x', opts: { key: 'tenant-1', throttle: { id: 'daily', ms: 60_000 } } } });
  assert.equal(a.status, 201, a.text);
  const b = await api.call('POST', `/v1/queues/${q}/jobs`, { token: 'producer-token', body: { name: 'x', opts: { throttle: { id: 'daily', ms: 60_000 } } } });
  assert.equal(b.status, 200);
  assert.deepEqual(b.json, { id: a.json.id, queue: q, name: 'x', throttled: true });
  const job = await api.call('GET', `/v1/queues/${q}/jobs/${a.json.id}`, admin);
  assert.equal(job.json.opts.key, 'tenant-1');
  const bad = await api.call('POST', `/v1/queues/${q}/jobs`, { token: 'producer-token', body: { name: 'x', opts: { debounce: { id: 'd', ms: 100 }, delay: 5 } } });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.message, /^opts\.delay: cannot be combined with debounce/);
  const longKey = await api.call('POST', `/v1/queues/${q}/jobs`, { token: 'producer-token', body: { name: 'x', opts: { key: 'k'.repeat(129) } } });
  assert.equal(longKey.status, 400);
  assert.match(longKey.json.error.message, /^opts\.key/);
});

test('conveyor limits: show, --set, --clear; bad JSON is a usage error', async () => {
  const q = uniqueQueue('limits-cli');
  const set = await cli('limits', q, '--set', '{"perKey":{"concurrency":3}}', '--json');
  assert.equal(set.code, 0, set.stderr);
  assert.deepEqual(set.json.limits, { perKey: { concurrency: 3 } });
  const shown = await cli('limits', q);
  assert.equal(shown.code, 0);
  assert.match(shown.stdout, /per key: +concurrency 3/);
  const bad = await cli('limits', q, '--set', '{"perKey":{"concurrency":0}}');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /limits\.perKey\.concurrency/);
  const cleared = await cli('limits', q, '--clear', '--json');
  assert.equal(cleared.code, 0);
  assert.deepEqual(cleared.json.limits, {});
});

test('the LIMITS file: applied with managedBy config, the API may not change it (409), a queue dropped from the file loses its limits', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-limits-'));
  const file = join(dir, 'limits.json');
  const q1 = uniqueQueue('limits-file');
  const q2 = uniqueQueue('limits-file');
  writeFileSync(file, JSON.stringify({ [q1]: { rate: { max: 100, perMs: 1000 } }, [q2]: { perKey: { concurrency: 1 } } }));
  const core = await openCore(testConfig(redis.url));
  try {
    const store: LimitsStore = coreOf(core.conveyor).limits;
    assert.deepEqual((await applyLimitsFile(store, file)).applied.sort(), [q1, q2].sort());
    const r = await api.call('PUT', `/v1/queues/${q1}/limits`, { ...admin, body: {} });
    assert.equal(r.status, 409);
    assert.equal(r.json.error.code, 'LIMITS_MANAGED_BY_CONFIG');
    writeFileSync(file, JSON.stringify({ [q1]: { rate: { max: 50, perMs: 1000 } } }));
    const again = await applyLimitsFile(store, file);
    assert.deepEqual(again.removed, [q2]);
    assert.deepEqual((await store.get(q1)).limits, { rate: { max: 50, perMs: 1000 } });
    assert.equal((await store.get(q2)).managedBy, null);
    writeFileSync(file, JSON.stringify({ [q1]: { concurrency: 0 } }));
    await assert.rejects(applyLimitsFile(store, file), /CONFIG_INVALID|limits|concurrency/);
    assert.deepEqual((await store.get(q1)).limits, { rate: { max: 50, perMs: 1000 } }, 'a bad file changes nothing');
  } finally {
    await core.close();
  }
});
