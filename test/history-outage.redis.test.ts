/**
 * PostgreSQL killed under load (a server of the test's own: initdb, SIGKILL
 * of the postmaster and its backends, asynchronous commit so even committed
 * batches may be lost) and started again: jobs keep running while it is
 * down, and afterwards every event of every job that ran is stored, none
 * twice.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueQueue } from '../shared/testing/fixtures.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { startPostgres, type PostgresProcess } from '../shared/testing/postgres.ts';
import { SCHEMA } from '../shared/history/schema.ts';
import { historyRig, type HistoryRig } from './history-fixture.ts';

let pgp: PostgresProcess;
let rig: HistoryRig;
const S = SCHEMA;

before(async () => {
  pgp = await startPostgres();
  rig = await historyRig({}, { url: pgp.url, drop: () => pgp.stop() });
});
after(async () => {
  await rig?.close();
});

test('Postgres killed mid-load and restarted: jobs go on meanwhile, then every event is stored once', async () => {
  const q = uniqueQueue('hist-outage');
  const archiver = rig.archiver({ batchSize: 100 });
  const downs: unknown[] = [];
  archiver.on('database-down', (e) => downs.push(e));
  archiver.start();
  await rig.worker(q, { ok: (d: { i: number }) => ({ i: d.i }) }, { CONCURRENCY: '20' });
  const bulk = async (from: number, n: number) => rig.core.producer.enqueueBulk(q, Array.from({ length: n }, (_, k) => ({ name: 'ok', data: { i: from + k } })));
  const completed = async () => (await rig.core.inspector.summary(q)).counts.completed;

  await bulk(0, 300);
  await waitFor('some events archived', () => archiver.status.eventsStored >= 200, { timeoutMs: 15_000 });
  await pgp.kill();
  // While Postgres is down the jobs run as before: the worker never waits for it.
  await bulk(300, 300);
  await waitFor('all 600 jobs completed with Postgres down', async () => (await completed()) >= 600, { timeoutMs: 20_000 });
  await waitFor('the archiver to notice', () => archiver.status.state === 'database-down', { timeoutMs: 15_000 });
  assert.ok(downs.length >= 1);
  await bulk(600, 100);
  await pgp.restart();
  await waitFor('all 700 jobs completed', async () => (await completed()) >= 700, { timeoutMs: 20_000 });
  await archiver.caughtUp(20_000);

  const [c] = await rig.rows(`SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS ids, count(DISTINCT job_id)::int AS jobs FROM ${S}.events WHERE queue = $1`, [q]);
  assert.deepEqual(c, { n: 700 * 3, ids: 700 * 3, jobs: 700 });
  const perType = await rig.rows(`SELECT type, count(*)::int AS n FROM ${S}.events WHERE queue = $1 GROUP BY type ORDER BY type`, [q]);
  assert.deepEqual(perType, [{ type: 'completed', n: 700 }, { type: 'enqueued', n: 700 }, { type: 'started', n: 700 }]);
  const [st] = await rig.rows(`SELECT sum(enqueued)::int AS e, sum(started)::int AS s, sum(completed)::int AS c FROM ${S}.stats_hourly WHERE queue = $1`, [q]);
  assert.deepEqual(st, { e: 700, s: 700, c: 700 });
  const [j] = await rig.rows(`SELECT count(*)::int AS n FROM ${S}.jobs WHERE queue = $1 AND state = 'completed' AND attempts = 1`, [q]);
  assert.equal(j!.n, 700);
  assert.equal(archiver.status.gaps, 0);
});
