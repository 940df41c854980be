/**
 * npx tsx bench/history.ts [jobs]: the archiver's ingest rate. Jobs are
 * enqueued and run to completion first (3 events each: enqueued, started,
 * completed), then one archiver starts on an empty history database and
 * is timed until it has caught up. Needs PostgreSQL at PG_TEST_URL (default
 * the machine's on 127.0.0.1:5432); a database is made and dropped.
 */
import { performance } from 'node:perf_hooks';
import { historyRig } from '../test/history-fixture.ts';
import { waitFor } from '../shared/testing/wait-for.ts';
import { SCHEMA } from '../shared/history/schema.ts';

const jobs = Number(process.argv[2] ?? 20_000);
const rig = await historyRig({ HISTORY_STREAM_MAXLEN: String(jobs * 4) });
try {
  const q = 'bench-history';
  // Streams long enough for the whole run (the archiver raises them too, but it is not running yet).
  await rig.core.producer.enqueue(q, { name: 'warm-up', data: {} }); // builds the Queue, which writes its meta
  await new Promise((r) => setTimeout(r, 200));
  await rig.core.conn.hset(`conveyor:{${q}}:meta`, 'opts.maxLenEvents', String(jobs * 10));
  await rig.worker(q, { ok: () => 1, 'warm-up': () => 1 }, { CONCURRENCY: '100' });
  for (let i = 0; i < jobs; i += 1000) await rig.core.producer.enqueueBulk(q, Array.from({ length: Math.min(1000, jobs - i) }, (_, k) => ({ name: 'ok', data: { i: i + k, pad: 'x'.repeat(100) } })));
  await waitFor('all run', async () => (await rig.core.conn.xrevrange(`conveyor:{${q}}:events`, '+', '-', 'COUNT', 1))[0]?.[1][1] === 'drained' && (await rig.core.inspector.summary(q)).counts.active === 0, { timeoutMs: 300_000, intervalMs: 200 });
  await rig.stopAll();
  const archiver = rig.archiver({ batchSize: 2000 });
  const t0 = performance.now();
  archiver.start();
  await archiver.caughtUp(600_000);
  const s = (performance.now() - t0) / 1000;
  const [c] = await rig.rows(`SELECT count(*)::int AS n FROM ${SCHEMA}.events`);
  const [size] = await rig.rows(`SELECT pg_database_size(current_database())::bigint AS b`);
  console.log(JSON.stringify({ jobs, events: c!.n, seconds: Number(s.toFixed(2)), eventsPerSecond: Math.round(c!.n / s), databaseBytesPerJob: Math.round(Number(size!.b) / jobs) }));
} finally {
  await rig.close();
}
