/**
 * The baseline worker: plain BullMQ code doing what a Conveyor worker process
 * does for the benchmark, with the same settings (prefix, hash-tagged queue
 * names, concurrency, lock duration, stalled check) and nothing else.
 *
 * env: BENCH_REDIS_PORT, BENCH_QUEUES (comma-separated Conveyor queue names),
 * BENCH_CONCURRENCY, BENCH_DEFAULTS=1 (BullMQ's own worker defaults). Job names: noop, stamp, flush (see ../handlers/latency.ts).
 * Prints {"msg":"ready"} once every worker is connected; exits on SIGTERM.
 */
import { Redis } from 'ioredis';
import { Worker } from 'bullmq';
import { bullName, PREFIX } from '../../shared/queue/names.ts';
import { handlers } from '../handlers/latency.ts';

const port = Number(process.env.BENCH_REDIS_PORT);
const queues = (process.env.BENCH_QUEUES ?? 'default').split(',');
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? '10');
const outOfTheBox = process.env.BENCH_DEFAULTS === '1';

const connection = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: null });
const workers = queues.map(
  (q) =>
    new Worker(
      bullName(q),
      async (job) => {
        if (job.name === 'stamp') return handlers.stamp(job.data);
        if (job.name === 'flush') return handlers.flush(job.data);
        return null;
      },
      // Conveyor's defaults (LOCK_DURATION_MS, STALLED_INTERVAL_MS, maxStalledCount); BENCH_DEFAULTS=1: BullMQ's own.
      outOfTheBox ? { connection, prefix: PREFIX, concurrency } : { connection, prefix: PREFIX, concurrency, lockDuration: 10_000, stalledInterval: 5_000, maxStalledCount: 3 },
    ),
);
for (const w of workers) w.on('error', (err) => process.stderr.write(`worker error: ${err.message}\n`));
await Promise.all(workers.map((w) => w.waitUntilReady()));
process.stdout.write(`${JSON.stringify({ msg: 'ready', pid: process.pid })}\n`);

process.once('SIGTERM', async () => {
  await Promise.all(workers.map((w) => w.close()));
  connection.disconnect();
  process.exit(0);
});
