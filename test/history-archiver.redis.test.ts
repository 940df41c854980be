/**
 * The history archiver against a real Redis and a real PostgreSQL (a fresh
 * database on the machine's server): every event of a job's life recorded
 * once, with what each event carries; operators named from the audit log;
 * two archivers storing each event once; a trimmed stream recorded as a gap;
 * retention dropping whole day partitions.
 */
import { test, before, after, afterEach } from 'node:test';
import { DURATION_BUCKETS, durationBucket } from '../shared/history/durations.ts';
import assert from 'node:assert/strict';
import { ConveyorError } from '../shared/errors.ts';
import { AuditLog } from '../shared/audit.ts';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { PREFIX, bullName } from '../shared/queue/names.ts';
import { listPartitions, partitionName, SCHEMA } from '../shared/history/schema.ts';
import { historyRig, type HistoryRig } from './history-fixture.ts';

let rig: HistoryRig;
const S = SCHEMA;

before(async () => {
  rig = await historyRig({ HISTORY_PAYLOAD_OFF: 'secret-job', HISTORY_PAYLOAD_MAX_BYTES: '200' });
});
afterEach(async () => {
  await rig.stopAll();
});
after(async () => {
  await rig?.close();
});

async function settled(queue: string, n: number, states: string[] = ['completed', 'dead']): Promise<void> {
  await waitFor(`${n} jobs of ${queue} settled`, async () => {
    const s = await rig.core.inspector.summary(queue);
    return states.reduce((sum, st) => sum + ((s.counts as unknown as Record<string, number>)[st] ?? 0), 0) >= n;
  }, { timeoutMs: 20_000 });
}

async function eventsOf(queue: string, id: string): Promise<Record<string, any>[]> {
  return rig.rows(`SELECT * FROM ${S}.events WHERE queue = $1 AND job_id = $2 ORDER BY at, event_id`, [queue, id]);
}

test('a job\'s life: enqueued (payload, key), started (worker, host, attempt), attempt failed (code, message, fingerprint), retried, completed (duration, size) — each once', async () => {
  const q = uniqueQueue('hist');
  const archiver = rig.archiver();
  archiver.start();
  const host = await rig.worker(q, {
    flaky: (_d: unknown, ctx) => {
      if (ctx.attempt === 1) throw new ConveyorError('HTTP_STATUS', 'upstream answered 502');
      return { ok: true, attempt: ctx.attempt };
    },
  });
  // A long backoff, cut short once the failure is archived: the hash then still describes attempt 1 when the archiver reads it.
  const { id } = await rig.core.producer.enqueue(q, { name: 'flaky', data: { order: 17, note: 'gift' }, opts: { key: 'tenant-a', attempts: 3, backoff: { type: 'fixed', delay: 600_000 } } });
  await waitFor('the failed attempt archived', async () => (await eventsOf(q, id)).some((e) => e.type === 'failed'), { timeoutMs: 20_000 });
  await (await rig.core.queues.source(q).getJob(id))!.promote();
  await settled(q, 1);
  await archiver.caughtUp();

  const ev = await eventsOf(q, id);
  assert.deepEqual(ev.map((e) => e.type), ['enqueued', 'started', 'failed', 'started', 'completed']);
  const [enq, s1, f1, s2, done] = ev as [Record<string, any>, Record<string, any>, Record<string, any>, Record<string, any>, Record<string, any>];
  assert.equal(enq.name, 'flaky');
  assert.equal(enq.key, 'tenant-a');
  assert.equal(s1.attempt, 1);
  assert.equal(s1.worker, host.id);
  assert.equal(s1.host, host.id.split(':')[0]);
  assert.equal(f1.attempt, 1);
  assert.equal(f1.error_code, 'HTTP_STATUS');
  assert.match(f1.error_message, /upstream answered 502/);
  assert.match(f1.error_fingerprint, /^[0-9a-f]{12}$/);
  assert.equal(f1.detail, null, 'a retried attempt is not final');
  assert.equal(s2.attempt, 2);
  assert.equal(s2.worker, host.id);
  assert.equal(done.attempt, 2);
  assert.ok(done.duration_ms >= 0);
  assert.equal(done.result_bytes, Buffer.byteLength(JSON.stringify({ ok: true, attempt: 2 })));

  const [job] = await rig.rows(`SELECT * FROM ${S}.jobs WHERE queue = $1 AND job_id = $2`, [q, id]);
  assert.equal(job!.state, 'completed');
  assert.equal(job!.attempts, 2);
  assert.equal(job!.failures, 1);
  assert.deepEqual(job!.payload, { order: 17, note: 'gift' });
  assert.match(job!.payload_hash, /^[0-9a-f]{64}$/);
  const [stat] = await rig.rows(`SELECT sum(enqueued)::int AS enqueued, sum(started)::int AS started, sum(completed)::int AS completed, sum(failed)::int AS failed FROM ${S}.stats_hourly WHERE queue = $1`, [q]);
  assert.deepEqual(stat, { enqueued: 1, started: 2, completed: 1, failed: 1 });
  const [hist] = await rig.rows(`SELECT duration_hist FROM ${S}.stats_hourly WHERE queue = $1 AND completed > 0`, [q]);
  assert.equal(hist!.duration_hist.length, DURATION_BUCKETS);
  assert.equal(hist!.duration_hist[durationBucket(done.duration_ms)], 1, 'the completed attempt counted in its duration bucket');
});

test('payloads: whole up to the limit, else hash and first KB; never for a job name that is off', async () => {
  const q = uniqueQueue('hist-pay');
  const archiver = rig.archiver();
  archiver.start();
  const small = await rig.core.producer.enqueue(q, { name: 'a', data: { n: 1 } });
  const big = await rig.core.producer.enqueue(q, { name: 'a', data: { blob: 'x'.repeat(500) } });
  const secret = await rig.core.producer.enqueue(q, { name: 'secret-job', data: { card: '4111' } });
  await archiver.caughtUp();
  const rows = new Map((await rig.rows(`SELECT job_id, payload, payload_bytes, payload_hash, payload_head, payload_omitted FROM ${S}.jobs WHERE queue = $1`, [q])).map((r) => [r.job_id, r]));
  assert.deepEqual(rows.get(small.id)!.payload, { n: 1 });
  assert.equal(rows.get(big.id)!.payload, null);
  assert.equal(rows.get(big.id)!.payload_omitted, 'too-large');
  assert.match(rows.get(big.id)!.payload_head, /^\{"blob":"xxx/);
  assert.match(rows.get(big.id)!.payload_hash, /^[0-9a-f]{64}$/);
  assert.equal(rows.get(secret.id)!.payload, null);
  assert.equal(rows.get(secret.id)!.payload_omitted, 'off');
  assert.equal(rows.get(secret.id)!.payload_hash, null);
});

test('dead-lettered, then replayed and dropped by operators named from the audit log', async () => {
  const q = uniqueQueue('hist-dead');
  const archiver = rig.archiver();
  archiver.start();
  await rig.worker(q, {
    boom: () => {
      throw new TypeError('cannot read properties of undefined');
    },
  });
  const a = await rig.core.producer.enqueue(q, { name: 'boom', data: {}, opts: { attempts: 1 } });
  const b = await rig.core.producer.enqueue(q, { name: 'boom', data: {}, opts: { attempts: 1 } });
  await waitFor('two dead letters', async () => (await rig.core.inspector.deadLetters.count(q)) === 2, { timeoutMs: 20_000 });
  await archiver.caughtUp();
  const audit = new AuditLog(rig.core.conn);
  // As the dashboard does: act, then record who did it.
  await rig.core.inspector.deadLetters.replay(q, a.id);
  await audit.record({ user: 'alice', role: 'admin', action: 'dead.replay', queue: q, jobs: [`${q}:${a.id}`], count: 1, outcome: 'ok' });
  await waitFor('the replayed job dead again', async () => (await rig.core.inspector.deadLetters.count(q)) === 2, { timeoutMs: 20_000 });
  await rig.core.inspector.deadLetters.drop(q, b.id);
  await audit.record({ user: 'bob', role: 'admin', action: 'dead.drop', queue: q, jobs: [`${q}:${b.id}`], count: 1, outcome: 'ok' });
  await archiver.caughtUp();

  const ea = await eventsOf(q, a.id);
  assert.deepEqual(ea.map((e) => e.type), ['enqueued', 'started', 'failed', 'dead-lettered', 'replayed', 'started', 'failed', 'dead-lettered']);
  const failed = ea[2]!;
  assert.equal(failed.error_code, 'TypeError');
  assert.deepEqual(failed.detail, { final: true });
  assert.equal(ea[4]!.actor, 'alice');
  assert.equal(ea[5]!.attempt, 1, 'a replay starts the attempts again');
  const eb = await eventsOf(q, b.id);
  assert.deepEqual(eb.map((e) => e.type), ['enqueued', 'started', 'failed', 'dead-lettered', 'dropped']);
  assert.equal(eb.at(-1)!.actor, 'bob');
  const states = new Map((await rig.rows(`SELECT job_id, state FROM ${S}.jobs WHERE queue = $1`, [q])).map((r) => [r.job_id, r.state]));
  assert.equal(states.get(a.id), 'dead');
  assert.equal(states.get(b.id), 'dropped');
  const [ops] = await rig.rows(`SELECT count(*)::int AS n FROM ${S}.operator_actions WHERE queue = $1`, [q]);
  assert.equal(ops!.n, 2);
});

/** Every event the queue's streams hold, as the archiver would identify them. */
async function streamEventCount(queue: string): Promise<number> {
  const relevant = new Set(['added', 'active', 'completed']);
  const entries = await rig.core.conn.xrange(`${PREFIX}:${bullName(queue)}:events`, '-', '+');
  return entries.filter(([, f]) => relevant.has(f[1]!)).length;
}

for (const exclusive of [true, false]) {
  test(`two archivers at once (${exclusive ? 'one leader' : 'both writing, the cursor check deciding'}) store every event once`, async () => {
    const q = uniqueQueue('hist-two');
    const one = rig.archiver({ exclusive, batchSize: 50 });
    const two = rig.archiver({ exclusive, batchSize: 50 });
    one.start();
    two.start();
    await rig.worker(q, { ok: () => 1 }, { CONCURRENCY: '20' });
    const N = 400;
    for (let i = 0; i < N; i += 100) await rig.core.producer.enqueueBulk(q, Array.from({ length: 100 }, () => ({ name: 'ok', data: {} })));
    await settled(q, N);
    await Promise.all([one.caughtUp(), two.caughtUp()]);
    const [c] = await rig.rows(`SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS distinct_ids FROM ${S}.events WHERE queue = $1`, [q]);
    assert.equal(c!.n, await streamEventCount(q));
    assert.equal(c!.n, N * 3);
    assert.equal(c!.distinct_ids, c!.n);
    // The additive counters would double if a batch were applied twice.
    const [st] = await rig.rows(`SELECT sum(enqueued)::int AS e, sum(started)::int AS s, sum(completed)::int AS c FROM ${S}.stats_hourly WHERE queue = $1`, [q]);
    assert.deepEqual(st, { e: N, s: N, c: N });
    const hists = await rig.rows(`SELECT duration_hist FROM ${S}.stats_hourly WHERE queue = $1`, [q]);
    const counted = hists.reduce((n, r) => n + r.duration_hist.reduce((a: number, b: number) => a + b, 0), 0);
    assert.equal(counted, N, 'each completion counted once in the duration histograms');
    if (exclusive) assert.deepEqual([one.status.state, two.status.state].sort(), ['archiving', 'standby']);
    else assert.ok(one.status.eventsStored > 0 || two.status.eventsStored > 0);
    await one.stop();
    await two.stop();
  });
}

test('events Redis trimmed before the archiver read them are a gap row (from, to), and archiving goes on after it', async () => {
  const q = uniqueQueue('hist-gap');
  const archiver = rig.archiver();
  const gaps: unknown[] = [];
  archiver.on('gap', (g) => gaps.push(g));
  archiver.start();
  await rig.core.producer.enqueue(q, { name: 'first', data: {} });
  await archiver.caughtUp();
  await archiver.stop();
  // While it is stopped, more events than the stream keeps.
  const stream = `${PREFIX}:${bullName(q)}:events`;
  for (let i = 0; i < 5; i++) await rig.core.producer.enqueue(q, { name: 'lost', data: {} });
  await rig.core.conn.xtrim(stream, 'MAXLEN', 2);
  const kept = await rig.core.conn.xrange(stream, '-', '+');
  const again = rig.archiver();
  again.start();
  await again.caughtUp();
  const rows = await rig.rows(`SELECT * FROM ${S}.gaps WHERE queue = $1`, [q]);
  assert.equal(rows.length, 1);
  assert.ok(rows[0]!.to_at.getTime() >= rows[0]!.from_at.getTime());
  assert.equal(again.status.gaps, 1);
  // What Redis still held was archived after the gap.
  const ids = (await rig.rows(`SELECT event_id FROM ${S}.events WHERE queue = $1`, [q])).map((r) => r.event_id.split('/')[1]);
  for (const [id, f] of kept) if (f[1] === 'added') assert.ok(ids.includes(id), `entry ${id} stored`);
  await again.stop();
});

test('retention drops whole day partitions past HISTORY_RETENTION_DAYS, in every partitioned table, and keeps the rest', async () => {
  const now = Date.now();
  const day = 86_400_000;
  const archiver = rig.archiver({ now: () => now });
  await archiver.maintainNow();
  // Partitions of 40 and 31 days ago (as a long-running history would have), with a row each.
  const client = await rig.pool.connect();
  try {
    const { ensurePartitions } = await import('../shared/history/schema.ts');
    await ensurePartitions(client, [now - 40 * day, now - 31 * day, now - 29 * day]);
    for (const ago of [40, 31, 29]) {
      await client.query(`INSERT INTO ${S}.events (at, event_id, queue, job_id, type) VALUES ($1, $2, 'old', $3, 'enqueued')`, [new Date(now - ago * day), `old/${ago}`, `j${ago}`]);
    }
  } finally {
    client.release();
  }
  await archiver.maintainNow();
  const client2 = await rig.pool.connect();
  try {
    for (const table of ['events', 'jobs', 'stats_hourly'] as const) {
      const have = (await listPartitions(client2, table)).map((p) => p.name);
      assert.ok(!have.includes(partitionName(table, now - 40 * day)), `${table}: 40 days ago dropped`);
      assert.ok(!have.includes(partitionName(table, now - 31 * day)), `${table}: 31 days ago dropped`);
      assert.ok(have.includes(partitionName(table, now - 29 * day)), `${table}: 29 days ago kept`);
      assert.ok(have.includes(partitionName(table, now + 3 * day)), `${table}: made 3 days ahead`);
    }
  } finally {
    client2.release();
  }
  const left = (await rig.rows(`SELECT job_id FROM ${S}.events WHERE queue = 'old'`)).map((r) => r.job_id);
  assert.deepEqual(left, ['j29']);
  await archiver.stop();
});
