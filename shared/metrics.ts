/**
 * Prometheus metrics: one registry per process (server, each worker).
 * Counters are bumped in process where the event happens (enqueue outcomes,
 * job events); gauges of queues, Redis and schedules are read from Redis on
 * each scrape, so they are never stale and cost nothing between scrapes.
 * Labels are bounded: queue names, job names a worker has handlers for (else
 * "other"), schedule ids; never a job id. Parts: shared/metrics/*.ts.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { Inspector, type QueueSummary } from './queue/inspector.ts';
import type { QueueSet } from './queue/queue-set.ts';
import type { Schedules } from './queue/schedules.ts';
import type { RedisConnection } from './redis/connections.ts';
import type { WorkerHost } from './runtime/worker-host.ts';
import { oldestWaitingSince, workerCounts } from './queue/queue-health.ts';
import { registerQueueGauges, type QueueReading } from './metrics/queue-gauges.ts';
import { FlowGate } from './flow/gate.ts';
import { readRedis, RedisMetrics } from './metrics/redis-gauges.ts';
import { readSchedules, registerScheduleGauges } from './metrics/schedule-gauges.ts';
import { JobMetrics } from './metrics/job-metrics.ts';

export type EnqueueOutcome = 'created' | 'duplicate' | 'rejected' | 'failed';

export interface MetricsOptions {
  /** Queue gauges through it (depth by state, paused). Built from queueSet when absent. */
  inspector?: Inspector;
  /** Queue gauges with the oldest waiting job's age and worker counts, and Redis gauges on its connection. */
  queueSet?: QueueSet;
  /** Only these queues (a worker's own); default: every registered queue. */
  queues?: readonly string[];
  /** Redis gauges (up, round trip, role, noeviction, replicas, reconnects); default: queueSet's connection. */
  redis?: RedisConnection;
  /** Schedule gauges (next run, healthy). */
  schedules?: Schedules;
  /** Process metrics (CPU, memory, event-loop lag, GC); off in tests that build many registries. */
  processMetrics?: boolean;
  /** How long a scrape waits for Redis before reporting it down. */
  scrapeTimeoutMs?: number;
}

/** How long one scrape's readings are reused by the gauges of that scrape. */
const SNAPSHOT_TTL_MS = 1000;

/** A reading taken at most once per SNAPSHOT_TTL_MS; a failed reading is undefined, never a throw. */
function perScrape<T>(read: () => Promise<T>): () => Promise<T | undefined> {
  let last: { at: number; value: Promise<T | undefined> } | undefined;
  return () => {
    const now = Date.now();
    if (!last || now - last.at > SNAPSHOT_TTL_MS) last = { at: now, value: read().catch(() => undefined) };
    return last.value;
  };
}

function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('scrape timed out')), ms)));
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

export class Metrics {
  readonly registry = new Registry();
  /** Jobs offered to enqueue, by outcome: created, duplicate (same jobId), rejected (bad input), failed (Redis). */
  readonly enqueue: Counter<'outcome'>;
  /** Enqueue requests (a bulk is one), by outcome. */
  readonly enqueueRequests: Counter<'outcome'>;
  /** Redis counters (reconnects, failovers seen); present when a connection was given. */
  readonly redis: RedisMetrics | undefined;
  private jobs: JobMetrics | undefined;

  constructor(opts: MetricsOptions = {}) {
    const registers = [this.registry];
    const timeoutMs = opts.scrapeTimeoutMs ?? 2000;
    this.enqueue = new Counter({
      name: 'conveyor_enqueue_total',
      help: 'Jobs offered to enqueue, by outcome (created, duplicate, rejected, failed).',
      labelNames: ['outcome'],
      registers,
    });
    this.enqueueRequests = new Counter({
      name: 'conveyor_enqueue_requests_total',
      help: 'Enqueue requests (single or bulk; a bulk counts once), by outcome (created, duplicate, rejected, failed).',
      labelNames: ['outcome'],
      registers,
    });
    for (const o of ['created', 'duplicate', 'rejected', 'failed'] as const) {
      this.enqueue.inc({ outcome: o }, 0);
      this.enqueueRequests.inc({ outcome: o }, 0);
    }
    if (opts.processMetrics) {
      collectDefaultMetrics({ register: this.registry, prefix: '' });
      // Gauges named like counters (promtool check metrics flags them); nodejs_active_handles etc. say the same by type.
      for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(n);
    }

    const conn = opts.redis ?? opts.queueSet?.connection;
    if (conn) {
      const reading = perScrape(() => readRedis(conn, timeoutMs));
      this.redis = new RedisMetrics(this.registry, async () => (await reading())!);
    }

    const gate = opts.queueSet ? new FlowGate(opts.queueSet.connection) : undefined;
    const inspector = opts.inspector ?? (opts.queueSet ? new Inspector(opts.queueSet, gate) : undefined);
    if (inspector) {
      const queueSet = opts.queueSet;
      const only = opts.queues;
      const queues = perScrape(() =>
        bounded(
          (async (): Promise<QueueReading[]> => {
            const summaries: QueueSummary[] = only ? await Promise.all(only.map((q) => inspector.summary(q))) : await inspector.listQueues();
            const workers = queueSet ? await workerCounts(queueSet, summaries.map((q) => q.name)) : undefined;
            return Promise.all(
              summaries.map(async (summary) => ({
                summary,
                oldestWaitingSince: queueSet ? await oldestWaitingSince(queueSet, summary.name) : undefined,
                workers: workers?.get(summary.name),
                hits: gate ? (await gate.status(summary.name, 0)).hits : undefined,
              })),
            );
          })(),
          timeoutMs,
        ),
      );
      registerQueueGauges(this.registry, queues);
      if (!conn) {
        // Without a connection of its own, Redis is up when the queues could be read.
        new Gauge({
          name: 'conveyor_redis_up',
          help: '1 when the last scrape could read the queues from Redis, else 0.',
          registers,
          aggregator: 'min',
          async collect() {
            this.set((await queues()) ? 1 : 0);
          },
        });
      }
    }

    if (opts.schedules) {
      const schedules = opts.schedules;
      registerScheduleGauges(this.registry, perScrape(() => bounded(readSchedules(schedules), timeoutMs)));
    }
  }

  /** Job counters and histograms of a worker process, from its WorkerHost's events (no Redis per job). */
  attachWorker(host: WorkerHost, handlerNames: Iterable<string>): JobMetrics {
    if (this.jobs) throw new Error('Metrics.attachWorker: already attached');
    this.jobs = new JobMetrics(this.registry, handlerNames);
    this.jobs.attach(host, this.registry);
    return this.jobs;
  }

  /** One enqueue request (of `jobs` jobs) and its outcome. */
  countEnqueue(outcome: EnqueueOutcome, jobs = 1): void {
    this.enqueue.inc({ outcome }, jobs);
    this.enqueueRequests.inc({ outcome });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
