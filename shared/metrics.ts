/**
 * Prometheus metrics: one registry per process. Counters are bumped where the
 * event happens; queue depths are read from Redis on each scrape (through the
 * Inspector), so they are never stale and cost nothing between scrapes.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Inspector, QueueSummary } from './queue/inspector.ts';

export type EnqueueOutcome = 'created' | 'duplicate' | 'rejected' | 'failed';

export interface MetricsOptions {
  /** When given, queue depth gauges are collected through it on scrape. */
  inspector?: Inspector;
  /** Process metrics (CPU, memory, event-loop lag); off in tests that build many registries. */
  processMetrics?: boolean;
}

/** How long one scrape's snapshot of the queues is reused by the gauges of that scrape. */
const SNAPSHOT_TTL_MS = 1000;

export class Metrics {
  readonly registry = new Registry();
  /** Jobs offered to enqueue, by outcome: created, duplicate (same jobId), rejected (bad input), failed (Redis). */
  readonly enqueue: Counter<'outcome'>;
  private snapshot: { at: number; queues: Promise<QueueSummary[] | undefined> } | undefined;

  constructor(opts: MetricsOptions = {}) {
    const registers = [this.registry];
    this.enqueue = new Counter({
      name: 'conveyor_enqueue_total',
      help: 'Jobs offered to enqueue, by outcome (created, duplicate, rejected, failed).',
      labelNames: ['outcome'],
      registers,
    });
    for (const o of ['created', 'duplicate', 'rejected', 'failed'] as const) this.enqueue.inc({ outcome: o }, 0);
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
    const inspector = opts.inspector;
    if (!inspector) return;

    const queues = () => this.queues(inspector);
    new Gauge({
      name: 'conveyor_redis_up',
      help: '1 when the last scrape could read the queues from Redis, else 0.',
      registers,
      async collect() {
        this.set((await queues()) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'conveyor_queue_jobs',
      help: 'Jobs in each queue by state (waiting, active, delayed, completed, failed, dead).',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const q of (await queues()) ?? []) {
          for (const state of ['waiting', 'active', 'delayed', 'completed', 'failed', 'dead'] as const) {
            this.set({ queue: q.name, state }, q.counts[state]);
          }
        }
      },
    });
    new Gauge({
      name: 'conveyor_queue_paused',
      help: '1 when the queue is paused.',
      labelNames: ['queue'],
      registers,
      async collect() {
        this.reset();
        for (const q of (await queues()) ?? []) this.set({ queue: q.name }, q.paused ? 1 : 0);
      },
    });
  }

  countEnqueue(outcome: EnqueueOutcome, jobs = 1): void {
    this.enqueue.inc({ outcome }, jobs);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** One listQueues per scrape, shared by the gauges (prom-client collects them in parallel). */
  private queues(inspector: Inspector): Promise<QueueSummary[] | undefined> {
    const now = Date.now();
    if (!this.snapshot || now - this.snapshot.at > SNAPSHOT_TTL_MS) {
      // A scrape during an outage answers with redis_up 0, not an error.
      this.snapshot = { at: now, queues: inspector.listQueues().catch(() => undefined) };
    }
    return this.snapshot.queues;
  }
}
