/**
 * Scale-out on Redis Cluster: 12 queues, K noop jobs each, drained by 3
 * Conveyor worker processes (4 queues each, concurrency 50), on a cluster of
 * 1 shard and of 3 shards (no replicas, so both spend CPU on the same work).
 * The queue names are chosen so that 4 queues live on each of the 3 shards
 * (each queue's keys share one hash slot: "{queue}").
 *
 * On a 2-core machine the shards, the workers and the benchmark share two
 * cores, so the 3-shard figure cannot show the scale-out a 3-machine cluster
 * would; CPU time per job (all processes, and Redis alone) is reported too.
 */
import { performance } from 'node:perf_hooks';
import { Command } from 'ioredis';
import { startCluster } from '../../shared/testing/redis-cluster.ts';
import { bullName, PREFIX } from '../../shared/queue/names.ts';
import type { BenchContext } from '../lib/context.ts';
import { startFleet, stopFleet, waitBlocked } from '../lib/fleet.ts';
import { drained, fill, plainQueue } from '../lib/jobs.ts';
import { cpuMeter } from '../lib/machine.ts';
import { makeRow, type Row } from '../lib/report.ts';

const QUEUES = 12;
const PROCESSES = 3;
const CONCURRENCY = 50;

const slotOf = (queue: string) => new Command('get', [`${PREFIX}:${bullName(queue)}:wait`]).getSlot() as number;

/** 12 queue names, 4 in each third of the slot space (where redis-cli puts each of 3 masters), interleaved. */
export function spreadQueueNames(): string[] {
  const byThird: string[][] = [[], [], []];
  for (let i = 0; byThird.some((t) => t.length < QUEUES / 3); i++) {
    const name = `bench-cl-${i}`;
    const third = Math.min(2, Math.floor(slotOf(name) / (16384 / 3)));
    if (byThird[third]!.length < QUEUES / 3) byThird[third]!.push(name);
  }
  return Array.from({ length: QUEUES }, (_, j) => byThird[j % 3]![Math.floor(j / 3)]!);
}

interface Measured {
  rate: number;
  /** Jobs per CPU-second of every process involved (workers and Redis nodes). */
  perCpu: number;
  /** Redis CPU ms per 1,000 jobs. */
  redisCpu: number;
}

async function measure(shards: number, perQueue: number, ctx: BenchContext): Promise<Measured> {
  const cl = await startCluster({ masters: shards, replicasPerMaster: 0 });
  const names = spreadQueueNames();
  const client = cl.client();
  const queues = names.map((n) => plainQueue(client, n));
  try {
    for (const q of queues) {
      await q.pause();
      await fill(q, perQueue);
    }
    const per = QUEUES / PROCESSES;
    // Process i consumes queues 4i..4i+3, which lie on all three shards.
    const fleets = await Promise.all(
      Array.from({ length: PROCESSES }, (_, i) =>
        startFleet('conveyor', 1, { redisUrl: cl.url, queues: names.slice(i * per, (i + 1) * per), concurrency: CONCURRENCY, execArgv: ctx.childArgs }),
      ),
    );
    const workers = fleets.flat();
    try {
      await waitBlocked(cl.nodes.map((n) => cl.nodeClient(n.port)), QUEUES);
      const redisMeter = cpuMeter(cl.nodes.map((n) => n.proc.pid));
      const allMeter = cpuMeter([...cl.nodes.map((n) => n.proc.pid), ...workers.map((w) => w.pid)]);
      const t0 = performance.now();
      await Promise.all(queues.map((q) => q.resume()));
      await Promise.all(queues.map((q) => drained(q, 300_000)));
      const s = (performance.now() - t0) / 1000;
      const jobs = perQueue * QUEUES;
      const all = allMeter.stop();
      const redis = redisMeter.stop();
      return { rate: jobs / s, perCpu: all > 0 ? jobs / all : NaN, redisCpu: (redis * 1e6) / jobs };
    } finally {
      await stopFleet(workers);
    }
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    await cl.stop();
  }
}

export async function cluster(ctx: BenchContext): Promise<Row[]> {
  const perQueue = ctx.quick ? 200 : 2000;
  const one: Measured[] = [];
  const three: Measured[] = [];
  for (let run = 0; run < ctx.runs; run++) {
    for (const shards of run % 2 === 0 ? [1, 3] : [3, 1]) {
      const m = await measure(shards, perQueue, ctx);
      (shards === 1 ? one : three).push(m);
      ctx.log(`cluster run ${run + 1}: ${shards} shard(s): ${Math.round(m.rate)} jobs/s, ${Math.round(m.perCpu)} jobs per CPU-second, Redis ${m.redisCpu.toFixed(0)} ms CPU per 1k jobs`);
    }
  }
  const label = '1 shard';
  const what = `${QUEUES} queues × ${perQueue.toLocaleString('en-US')} jobs, ${PROCESSES} worker processes × c${CONCURRENCY}`;
  return [
    makeRow({ group: 'cluster', id: 'cluster.throughput', label: `Redis Cluster, 3 shards vs 1: processing (${what})`, unit: 'jobs/s', conveyor: three.map((m) => m.rate), baseline: { label, samples: one.map((m) => m.rate) } }),
    makeRow({ group: 'cluster', id: 'cluster.per-cpu', label: 'Redis Cluster, 3 shards vs 1: jobs per CPU-second (workers + Redis)', unit: 'jobs/cpu-s', conveyor: three.map((m) => m.perCpu), baseline: { label, samples: one.map((m) => m.perCpu) } }),
    makeRow({ group: 'cluster', id: 'cluster.redis-cpu', label: 'Redis Cluster, 3 shards vs 1: Redis CPU per 1,000 jobs', unit: 'ms', better: 'lower', digits: 0, conveyor: three.map((m) => m.redisCpu), baseline: { label, samples: one.map((m) => m.redisCpu) } }),
  ];
}
