/**
 * Enqueue throughput. Library: Conveyor's Producer beside plain BullMQ
 * queue.add / addBulk with the same job options, one awaited caller (and 8
 * concurrent callers), interleaved in chunks. HTTP: the real server process
 * (server/main.ts, with a bearer token) driven by keep-alive clients,
 * compared with Conveyor's own library figure of the same run, as the
 * targets ask, and with a minimal express server doing queue.add.
 */
import { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import { startRedis, type RedisProcess } from '../../shared/testing/redis-process.ts';
import { openCore, testConfig } from '../../shared/testing/fixtures.ts';
import { listeningUrl, spawnConveyor } from '../../shared/testing/processes.ts';
import { reapOnExit } from '../../shared/testing/reaper.ts';
import type { BenchContext } from '../lib/context.ts';
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

/** Plain BullMQ: with Conveyor's job options (configured alike) or, `bare`, with none (BullMQ out of the box). */
async function bullmqLibrary(redis: RedisProcess, bare = false): Promise<Library> {
  const conn = new Redis({ host: '127.0.0.1', port: redis.port });
  const queues = new Map<string, Queue>();
  const q = (name: string) => {
    let x = queues.get(name);
    if (!x) queues.set(name, (x = plainQueue(conn, name)));
    return x;
  };
  return {
    single: (queue, i) => (bare ? q(queue).add('noop', payload100(i)) : q(queue).add('noop', payload100(i), jobOpts())),
    bulk: (queue) => q(queue).addBulk(bare ? bulkInput() : bulkInput().map((j) => ({ ...j, opts: jobOpts() }))),
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

/**
 * Both libraries in one run, interleaved: each figure is measured in chunks
 * that alternate between the sides, so a change in the machine's speed (other
 * work on the host) and JIT warm-up of the code both share (BullMQ, ioredis)
 * hit both sides alike. Each side first warms up on its own queue.
 */
type LibSide = Side | 'bullmqDefaults';
const LIB_SIDES: readonly LibSide[] = ['conveyor', 'bullmq', 'bullmqDefaults'];

async function measureLibraries(libs: Record<LibSide, Library>, n: number, bulkCalls: number, run: number, warmN: number): Promise<Record<LibSide, RunFigures>> {
  const sides = LIB_SIDES;
  for (const side of sides) {
    const warm = benchQueueName('warm');
    await concurrently(warmN, 1, (i) => libs[side].single(warm, i));
    await concurrently(2, 1, () => libs[side].bulk(warm));
  }
  const secs = Object.fromEntries(sides.map((s) => [s, { single: 0, concurrent: 0, bulk: 0 }])) as Record<LibSide, RunFigures>;
  const queue = Object.fromEntries(sides.map((s) => [s, { single: benchQueueName('single'), concurrent: benchQueueName('single8'), bulk: benchQueueName('bulk') }])) as Record<LibSide, Record<keyof RunFigures, string>>;
  const CHUNKS = 10;
  const bulkChunks = Math.min(CHUNKS, bulkCalls);
  for (let c = 0; c < CHUNKS; c++) {
    // The order turns from chunk to chunk: each side goes first, middle and last alike.
    for (const side of sides.map((_, k) => sides[(k + c + run) % sides.length]!)) {
      const lib = libs[side];
      secs[side].single += await concurrently(n / CHUNKS, 1, (i) => lib.single(queue[side].single, i));
      secs[side].concurrent += await concurrently(n / CHUNKS, CALLERS, (i) => lib.single(queue[side].concurrent, i));
      if (c < bulkChunks) secs[side].bulk += await concurrently(bulkCalls / bulkChunks, 1, () => lib.bulk(queue[side].bulk));
    }
  }
  const rates = (t: RunFigures): RunFigures => ({ single: n / t.single, concurrent: n / t.concurrent, bulk: (bulkCalls * BULK) / t.bulk });
  return { conveyor: rates(secs.conveyor), bullmq: rates(secs.bullmq), bullmqDefaults: rates(secs.bullmqDefaults) };
}

interface HttpTarget {
  post(path: string, body: unknown): Promise<void>;
  close(): Promise<void>;
}

/** A keep-alive client on a server that must answer 201. */
function target(url: string, stop: () => Promise<unknown>): HttpTarget {
  const client = jsonClient(url, TOKEN, Math.max(HTTP_CLIENTS, HTTP_BULK_CLIENTS));
  return {
    async post(path, body) {
      const r = await client.post(path, body);
      if (r.status !== 201) throw new Error(`POST ${path} answered ${r.status}: ${r.body.slice(0, 300)}`);
    },
    async close() {
      client.close();
      await stop();
    },
  };
}

/**
 * HTTP: the real server process (with a bearer token) and, for scale, the
 * minimal express + queue.add server (bench/baseline/express-server.ts) under
 * the same single-enqueue load, in alternating chunks; then bulk on the real
 * server.
 */
async function measureHttp(redis: RedisProcess, n: number, bulkCalls: number, run: number, warmN: number, ctx: BenchContext): Promise<{ single: number; bulk: number; minimal: number }> {
  const server = spawnConveyor('server', { REDIS_URL: redis.url, API_PORT: '0', API_TOKENS: TOKEN, LOG_LEVEL: 'info' }, ctx.childArgs, { compiled: true });
  reapOnExit(server.proc);
  const base = spawnBaseline('express-server.ts', { BENCH_REDIS_PORT: String(redis.port) }, 'listening');
  const targets: HttpTarget[] = [];
  try {
    const [serverUrl, ready] = await Promise.all([listeningUrl(server), base.ready]);
    const conveyor = target(serverUrl, () => server.stop('SIGTERM'));
    targets.push(conveyor);
    const minimal = target(String(ready.url), () => base.worker.stop());
    targets.push(minimal);
    const single = (t: HttpTarget, q: string) => (i: number) => t.post(`/v1/queues/${q}/jobs`, { name: 'noop', data: payload100(i) });
    for (const t of targets) await concurrently(warmN, HTTP_CLIENTS, single(t, benchQueueName('hwarm')));
    await concurrently(2, 1, () => conveyor.post(`/v1/queues/${benchQueueName('hwarm')}/jobs/bulk`, { jobs: bulkInput() }));
    const secs = { conveyor: 0, minimal: 0 };
    const qs = { conveyor: benchQueueName('hsingle'), minimal: benchQueueName('xsingle') };
    const CHUNKS = 10;
    for (let c = 0; c < CHUNKS; c++) {
      for (const side of (c + run) % 2 === 0 ? (['conveyor', 'minimal'] as const) : (['minimal', 'conveyor'] as const)) {
        secs[side] += await concurrently(n / CHUNKS, HTTP_CLIENTS, single(side === 'conveyor' ? conveyor : minimal, qs[side]));
      }
    }
    const qb = benchQueueName('hbulk');
    const bulk = (bulkCalls * BULK) / (await concurrently(bulkCalls, HTTP_BULK_CLIENTS, () => conveyor.post(`/v1/queues/${qb}/jobs/bulk`, { jobs: bulkInput() })));
    return { single: n / secs.conveyor, minimal: n / secs.minimal, bulk };
  } finally {
    if (targets.length < 2) {
      await server.stop('SIGTERM').catch(() => {});
      await base.worker.stop();
    }
    for (const t of targets) await t.close();
  }
}

export async function enqueue(ctx: BenchContext): Promise<Row[]> {
  const n = ctx.quick ? 1500 : 10_000;
  const bulkCalls = ctx.quick ? 4 : 20;
  const httpN = ctx.quick ? 1500 : 10_000;
  const warmN = ctx.quick ? 300 : 1000;
  const lib: Record<LibSide, RunFigures[]> = { conveyor: [], bullmq: [], bullmqDefaults: [] };
  const http: { single: number; bulk: number }[] = [];
  const minimal: number[] = [];
  for (let run = 0; run < ctx.runs; run++) {
    const redis = await startRedis();
    try {
      const libs = { conveyor: await conveyorLibrary(redis), bullmq: await bullmqLibrary(redis), bullmqDefaults: await bullmqLibrary(redis, true) };
      try {
        const f = await measureLibraries(libs, n, bulkCalls, run, warmN);
        for (const side of LIB_SIDES) {
          lib[side].push(f[side]);
          ctx.log(`enqueue run ${run + 1}: ${side} library single ${Math.round(f[side].single)}/s, ${CALLERS} callers ${Math.round(f[side].concurrent)}/s, bulk ${Math.round(f[side].bulk)}/s`);
        }
      } finally {
        await Promise.all([libs.conveyor.close(), libs.bullmq.close(), libs.bullmqDefaults.close()]);
      }
      const h = await measureHttp(redis, httpN, bulkCalls, run, warmN, ctx);
      http.push(h);
      minimal.push(h.minimal);
      ctx.log(`enqueue run ${run + 1}: HTTP single ${Math.round(h.single)}/s (${HTTP_CLIENTS} clients; minimal express + queue.add: ${Math.round(h.minimal)}/s), bulk ${Math.round(h.bulk)}/s (${HTTP_BULK_CLIENTS} clients)`);
    } finally {
      await redis.stop();
    }
  }
  const c = lib.conveyor;
  const b = lib.bullmq;
  const d = lib.bullmqDefaults;
  const base = 'enqueue';
  return [
    makeRow({ group: base, id: 'enqueue.library-single-defaults', label: 'enqueue, library, single (1 awaited caller), beside BullMQ out of the box', unit: 'jobs/s', conveyor: c.map((f) => f.single), baseline: { label: 'queue.add, no options', samples: d.map((f) => f.single) } }),
    makeRow({ group: base, id: 'enqueue.library-bulk-defaults', label: `enqueue, library, bulk (${BULK} per call, atomic), beside BullMQ out of the box`, unit: 'jobs/s', conveyor: c.map((f) => f.bulk), baseline: { label: 'queue.addBulk, no options', samples: d.map((f) => f.bulk) } }),
    makeRow({ group: base, id: 'enqueue.library-single', label: 'enqueue, library, single (1 awaited caller)', unit: 'jobs/s', conveyor: c.map((f) => f.single), baseline: { label: 'queue.add', samples: b.map((f) => f.single) }, target: { kind: 'ratio-min', value: 0.95 } }),
    makeRow({ group: base, id: 'enqueue.library-single-8', label: `enqueue, library, single (${CALLERS} concurrent callers)`, unit: 'jobs/s', conveyor: c.map((f) => f.concurrent), baseline: { label: 'queue.add', samples: b.map((f) => f.concurrent) }, target: { kind: 'ratio-min', value: 0.95 } }),
    makeRow({ group: base, id: 'enqueue.library-bulk', label: `enqueue, library, bulk (${BULK} per call, atomic)`, unit: 'jobs/s', conveyor: c.map((f) => f.bulk), baseline: { label: 'queue.addBulk', samples: b.map((f) => f.bulk) }, target: { kind: 'ratio-min', value: 0.95 } }),
    makeRow({ group: base, id: 'enqueue.http-single', label: `enqueue, HTTP, single (${HTTP_CLIENTS} keep-alive clients)`, unit: 'jobs/s', conveyor: http.map((h) => h.single), baseline: { label: 'Conveyor library single', samples: c.map((f) => f.single) }, target: { kind: 'ratio-min', value: 0.5 } }),
    makeRow({ group: base, id: 'enqueue.http-single-express', label: `enqueue, HTTP, single (${HTTP_CLIENTS} clients) vs a minimal express 5 server doing queue.add`, unit: 'jobs/s', conveyor: http.map((h) => h.single), baseline: { label: 'express.json + queue.add', samples: minimal } }),
    makeRow({ group: base, id: 'enqueue.http-bulk', label: `enqueue, HTTP, bulk (${BULK} per request, ${HTTP_BULK_CLIENTS} clients)`, unit: 'jobs/s', conveyor: http.map((h) => h.bulk), baseline: { label: 'Conveyor library bulk', samples: c.map((f) => f.bulk) }, target: { kind: 'ratio-min', value: 0.8 } }),
  ];
}
