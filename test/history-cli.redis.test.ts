/**
 * `conveyor history`, `history timeline QUEUE ID` and `history gaps` against
 * a real Redis and PostgreSQL (a fresh database of this file's own): what the
 * archiver stored, searched and shown as GET /v1/history shows it; bad
 * filters exit 2 naming them, an unknown job exits 3, and without
 * HISTORY_URL the CLI says how to turn history on.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { historyRig, type HistoryRig } from './history-fixture.ts';
import { runCliCaptured } from './cli-capture.ts';
import { SCHEMA } from '../shared/history/schema.ts';

let rig: HistoryRig;
let env: Record<string, string>;
before(async () => {
  rig = await historyRig();
  env = { REDIS_URL: rig.redis.url, HISTORY_URL: rig.db.url, LOG_LEVEL: 'silent' };
});
after(async () => {
  await rig?.close();
});

test('conveyor history finds archived jobs by queue, name, state and payload; timeline lists the attempts; gaps are none', async () => {
  const q = uniqueQueue('hist-cli');
  const archiver = rig.archiver();
  archiver.start();
  await rig.worker(q, {
    ok: () => ({ done: true }),
    boom: () => {
      throw new Error('card declined');
    },
  });
  const good = await rig.core.producer.enqueue(q, { name: 'ok', data: { user: { id: 42 } } });
  const bad = await rig.core.producer.enqueue(q, { name: 'boom', data: { user: { id: 7 } }, opts: { attempts: 1 } });
  await waitFor('both archived as finished', async () => {
    const rows = await rig.rows<{ state: string }>(`SELECT state FROM ${SCHEMA}.jobs WHERE queue = $1`, [q]);
    return rows.length === 2 && rows.every((r) => r.state === 'completed' || r.state === 'dead' || r.state === 'failed') ? rows : undefined;
  }, { timeoutMs: 20_000 });

  const all = await runCliCaptured(env, ['history', '--queue', q, '--json']);
  assert.equal(all.code, 0, all.stderr);
  assert.deepEqual(all.json.jobs.map((j: { id: string }) => j.id).sort(), [good.id, bad.id].sort());

  const byData = await runCliCaptured(env, ['history', '--queue', q, '--data', 'user.id=42', '--json']);
  assert.deepEqual(byData.json.jobs.map((j: { id: string }) => j.id), [good.id]);
  const byName = await runCliCaptured(env, ['history', '--queue', q, '--name', 'boom']);
  assert.equal(byName.code, 0);
  assert.match(byName.stdout, new RegExp(`${bad.id}.*boom.*card declined`));
  assert.doesNotMatch(byName.stdout, new RegExp(good.id));

  const tl = await runCliCaptured(env, ['history', 'timeline', q, bad.id]);
  assert.equal(tl.code, 0, tl.stderr);
  assert.match(tl.stdout, /attempts:/);
  assert.match(tl.stdout, /\n1 +\S+:\d+:\w+ .* failed .*card declined/);
  const tlJson = await runCliCaptured(env, ['history', 'timeline', q, good.id, '--json']);
  assert.equal(tlJson.json.attempts[0].outcome, 'completed');
  assert.equal(tlJson.json.attempts[0].worker, (await rig.core.queues.source(q).getJob(good.id))?.processedBy);

  const gaps = await runCliCaptured(env, ['history', 'gaps', '--json']);
  assert.deepEqual(gaps.json, { gaps: [] });
});

test('bad filters exit 2 naming them; an unknown job exits 3; without HISTORY_URL it says how to turn history on', async () => {
  const data = await runCliCaptured(env, ['history', '--data', 'no-equals']);
  assert.equal(data.code, 2);
  assert.match(data.stderr, /--data expects path=value/);
  const limit = await runCliCaptured(env, ['history', '--limit', '0']);
  assert.equal(limit.code, 2);
  assert.match(limit.stderr, /--limit must be from 1 to 500/);
  const since = await runCliCaptured(env, ['history', '--since', 'yesterday-ish']);
  assert.equal(since.code, 2);
  assert.match(since.stderr, /since/);
  const missing = await runCliCaptured(env, ['history', 'timeline', 'nosuch', 'job-1']);
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /no job "job-1" in queue "nosuch"/);
  const off = await runCliCaptured({ REDIS_URL: rig.redis.url, LOG_LEVEL: 'silent' }, ['history']);
  assert.notEqual(off.code, 0);
  assert.match(off.stderr, /HISTORY_NOT_CONFIGURED.*HISTORY_URL/);
});
