/**
 * Enqueue throughput. Library: Conveyor's Producer beside plain BullMQ
 * queue.add / addBulk with the same job options, one awaited caller (and 8
 * concurrent callers). HTTP: the real server process (server/main.ts, with a
 * bearer token) driven by keep-alive clients, compared with Conveyor's own
 * library figure of the same run, as SPEC's targets ask.
 */
import { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import { startRedis, type RedisProcess } from '#shared/testing/redis-process.ts';
import { openCore, testConfig } from '#shared/testing/fixtures.ts';
import { listeningUrl, spawnConveyor } from '#shared/testing/processes.ts';
import { reapOnExit } from '#shared/testing/reaper.ts';
import type { BenchContext } from '../lib/context.ts';
import { sidesFor } from '../lib/context.ts';
import { spawnBaseline, type Side } from '../lib/fleet.ts';
import { concurrently, jsonClient } from '../lib/http-client.ts';
import { benchQueueName, jobOpts, payload100, plainQueue } from '../lib/jobs.ts';
import { makeRow, type Row } from '../lib/report.ts';

const TOKEN = 'bench-token-0123456789';
const BULK = 1000;
const CALLERS = 8;
const HTTP_CLIENTS = 8;
const HTTP_BULK_CLIENTS = 4;

interface Library {
  single(queue: string, i: number): Promise<unknown>;
  bulk(queue: string): Promise<unknown>;
  close(): Promise<void>;
}

const bulkInput = () => Array.from({ length: BULK }, (_, k) => ({ name: 'noop', data: payload100(k) }));

async function conveyorLibrary(redis: RedisProcess): Promise<Library> {
  const core = await openCore(testConfig(redis.url));
  return {
    single: (queue, i) => core.producer.enqueue(queue, { name: 'noop', data: payload100(i) }),
    bulk: (queue) => core.producer.enqueueBulk(queue, bulkInput()),
    close: () => core.close(),
  };
}

async function bullmqLibrary(redis: RedisProcess): Promise<Library> {
  const conn = new Redis({ host: '127.0.0.1', port: redis.port });
  const queues = new Map<string, Queue>();
  const q = (name: string) => {
    let x = queues.get(name);
    if (!x) queues.set(name, (x = plainQueue(conn, name)));
    return x;
  };
  return {
    single: (queue, i) => q(queue).add('noop', payload100(i), jobOpts()),
    bulk: (queue) => q(queue).addBulk(bulkInput().map((j) => ({ ...j, opts: jobOpts() }))),
    async close() {
      await Promise.all([...queues.values()].map((x) => x.close()));
      conn.disconnect();
    },
  };
}

interface RunFigures {
  single: number;
  concurrent: number;
  bulk: number;
}

async function measureLibrary(lib: Library, n: number, bulkCalls: number): Promise<RunFigures> {
  const warm = benchQueueName('warm');
  await concurrently(300, 1, (i) => lib.single(warm, i));
  await concurrently(2, 1, () => lib.bulk(warm));
  const q1 = benchQueueName('single');
  const single = n / (await concurrently(n, 1, (i) => lib.single(q1, i)));
  const q8 = benchQueueName('single8');
  const concurrent = n / (await concurrently(n, CALLERS, (i) => lib.single(q8, i)));
  const qb = benchQueueName('bulk');
  const bulk = (bulkCalls * BULK) / (await concurrently(bulkCalls, 1, () => lib.bulk(qb)));
  return { single, concurrent, bulk };
}

/** The same HTTP single load against the minimal express + queue.add server (bench/baseline/express-server.ts). */
async function measureExpressBaseline(redis: RedisProcess, n: number): Promise<number> {
  const { worker, ready } = spawnBaseline('express-server.ts', { BENCH_REDIS_PORT: String(redis.port) }, 'listening');
  try {
    const { url } = (await ready) as { url: string };
    const client = jsonClient(url, TOKEN, HTTP_CLIENTS);
    try {
      const post = (q: string, i: number) => client.post(`/v1/queues/${q}/jobs`, { name: 'noop', data: payload100(i) }).then((r) => {
        if (r.status !== 201) throw new Error(`baseline server answered ${r.status}: ${r.body.slice(0, 200)}`);
      });
      const warm = benchQueueName('xwarm');
      await concurrently(500, HTTP_CLIENTS, (i) => post(warm, i));
      const q = benchQueueName('xsingle');
      return n / (await concurrently(n, HTTP_CLIENTS, (i) => post(q, i)));
    } finally {
      client.close();
    }
  } finally {
    await worker.stop();
  }
}

async function measureHttp(redis: RedisProcess, n: number, bulkCalls: number, ctx: BenchContext): Promise<{ single: number; bulk: number }> {
  const server = spawnConveyor('server', { REDIS_URL: redis.url, API_PORT: '0', API_TOKENS: TOKEN, LOG_LEVEL: 'info' }, ctx.childArgs);
  reapOnExit(server.proc);
  const client = jsonClient(await listeningUrl(server), TOKEN, Math.max(HTTP_CLIENTS, HTTP_BULK_CLIENTS));
  const expect201 = async (p: Promise<{ status: number; body: string }>) => {
    const r = await p;
    if (r.status !== 201) throw new Error(`HTTP enqueue answered ${r.status}: ${r.body.slice(0, 300)}`);
  };
  try {
    const warm = benchQueueName('hwarm');
    await concurrently(500, HTTP_CLIENTS, (i) => expect201(client.post(`/v1/queues/${warm}/jobs`, { name: 'noop', data: payload100(i) })));
    await concurrently(2, 1, () => expect201(client.post(`/v1/queues/${warm}/jobs/bulk`, { jobs: bulkInput() })));
    const qs = benchQueueName('hsingle');
    const single = n / (await concurrently(n, HTTP_CLIENTS, (i) => expect201(client.post(`/v1/queues/${qs}/jobs`, { name: 'noop', data: payload100(i) }))));
    const qb = benchQueueName('hbulk');
    const bulk = (bulkCalls * BULK) / (await concurrently(bulkCalls, HTTP_BULK_CLIENTS, () => expect201(client.post(`/v1/queues/${qb}/jobs/bulk`, { jobs: bulkInput() }))));
    return { single, bulk };
  } finally {
    client.close();
    await server.stop('SIGTERM');
  }
}

export async function enqueue(ctx: BenchContext): Promise<Row[]> {
  const n = ctx.quick ? 1500 : 5000;
  const bulkCalls = ctx.quick ? 4 : 20;
  const httpN = ctx.quick ? 2000 : 10_000;
  const lib: Record<Side, RunFigures[]> = { conveyor: [], bullmq: [] };
  const http: { single: number; bulk: number }[] = [];
  const minimal: number[] = [];
  for (let run = 0; run < ctx.runs; run++) {
    const redis = await startRedis();
    try {
      for (const side of sidesFor<Side>(run, 'conveyor', 'bullmq')) {
        const l = side === 'conveyor' ? await conveyorLibrary(redis) : await bullmqLibrary(redis);
        try {
          const f = await measureLibrary(l, n, bulkCalls);
          lib[side].push(f);
          ctx.log(`enqueue run ${run + 1}: ${side} library single ${Math.round(f.single)}/s, ${CALLERS} callers ${Math.round(f.concurrent)}/s, bulk ${Math.round(f.bulk)}/s`);
        } finally {
          await l.close();
        }
      }
      let h: { single: number; bulk: number } | undefined;
      for (const side of sidesFor<Side>(run, 'conveyor', 'bullmq')) {
        if (side === 'conveyor') http.push((h = await measureHttp(redis, httpN, bulkCalls, ctx)));
        else minimal.push(await measureExpressBaseline(redis, httpN));
      }
      if (!h) throw new Error('unreachable');
      ctx.log(`enqueue run ${run + 1}: HTTP single ${Math.round(h.single)}/s (${HTTP_CLIENTS} clients; minimal express + queue.add: ${Math.round(minimal[run]!)}/s), bulk ${Math.round(h.bulk)}/s (${HTTP_BULK_CLIENTS} clients)`);
    } finally {
      await redis.stop();
    }
  }
  const c = lib.conveyor;
  const b = lib.bullmq;
  const base = 'enqueue';
  return [
    makeRow({ group: base, id: 'enqueue.library-single', label: 'enqueue, library, single (1 awaited caller)', unit: 'jobs/s', conveyor: c.map((f) => f.single), baseline: { label: 'queue.add', samples: b.map((f) => f.single) }, target: { kind: 'ratio-min', value: 0.95 } }),
    makeRow({ group: base, id: 'enqueue.library-single-8', label: `enqueue, library, single (${CALLERS} concurrent callers)`, unit: 'jobs/s', conveyor: c.map((f) => f.concurrent), baseline: { label: 'queue.add', samples: b.map((f) => f.concurrent) }, target: { kind: 'ratio-min', value: 0.95 } }),
    makeRow({ group: base, id: 'enqueue.library-bulk', label: `enqueue, library, bulk (${BULK} per call, atomic)`, unit: 'jobs/s', conveyor: c.map((f) => f.bulk), baseline: { label: 'queue.addBulk', samples: b.map((f) => f.bulk) }, target: { kind: 'ratio-min', value: 0.95 } }),
    makeRow({ group: base, id: 'enqueue.http-single', label: `enqueue, HTTP, single (${HTTP_CLIENTS} keep-alive clients)`, unit: 'jobs/s', conveyor: http.map((h) => h.single), baseline: { label: 'Conveyor library single', samples: c.map((f) => f.single) }, target: { kind: 'ratio-min', value: 0.5 } }),
    makeRow({ group: base, id: 'enqueue.http-single-express', label: `enqueue, HTTP, single (${HTTP_CLIENTS} clients) vs a minimal express 5 server doing queue.add`, unit: 'jobs/s', conveyor: http.map((h) => h.single), baseline: { label: 'express.json + queue.add', samples: minimal } }),
    makeRow({ group: base, id: 'enqueue.http-bulk', label: `enqueue, HTTP, bulk (${BULK} per request, ${HTTP_BULK_CLIENTS} clients)`, unit: 'jobs/s', conveyor: http.map((h) => h.bulk), baseline: { label: 'Conveyor library bulk', samples: c.map((f) => f.bulk) }, target: { kind: 'ratio-min', value: 0.8 } }),
  ];
}
