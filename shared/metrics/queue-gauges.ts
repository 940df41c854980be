/**
 * Queue gauges, read from Redis on each scrape: jobs by state, paused, age of
 * the oldest waiting job, workers consuming. One reading per scrape is shared
 * by all of them (prom-client collects gauges in parallel).
 */
import { Gauge, type Registry } from 'prom-client';
import type { QueueSummary } from '../queue/inspector.ts';

export interface QueueReading {
  summary: QueueSummary;
  /** ms since the epoch when the oldest waiting job became runnable; undefined when none waits. */
  oldestWaitingSince: number | undefined;
  /** undefined when the server refuses CLIENT LIST. */
  workers: number | undefined;
  /** Flow gate: how often a key was found at its limit when its turn came (undefined: not read). */
  hits?: { 'key-concurrency': number; 'key-rate': number };
}

const STATES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'dead', 'paused', 'held'] as const;

/** Registers the gauges; `reading` answers undefined when Redis could not be read (then no series). */
export function registerQueueGauges(registry: Registry, reading: () => Promise<QueueReading[] | undefined>): void {
  const registers = [registry];
  const each = (name: string, help: string, labelNames: string[], fill: (g: Gauge<string>, q: QueueReading, now: number) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      // Read from Redis: every worker process of a supervisor reads the same value; its /metrics takes one.
      aggregator: 'max',
      async collect() {
        const queues = await reading();
        this.reset();
        const now = Date.now();
        for (const q of queues ?? []) fill(this, q, now);
      },
    });
  each('conveyor_queue_jobs', 'Jobs in each queue by state (waiting, active, delayed, completed, failed, dead; paused = waiting jobs held by a pause; held = waiting jobs the per-key flow gate holds back).', ['queue', 'state'], (g, q) => {
    for (const state of STATES) g.set({ queue: q.summary.name, state }, q.summary.counts[state] ?? 0);
  });
  each('conveyor_queue_paused', '1 when the queue is paused.', ['queue'], (g, q) => g.set({ queue: q.summary.name }, q.summary.paused ? 1 : 0));
  each('conveyor_queue_oldest_waiting_seconds', 'How long the oldest waiting job has been runnable (0 when none waits).', ['queue'], (g, q, now) => {
    g.set({ queue: q.summary.name }, q.oldestWaitingSince === undefined ? 0 : Math.max(0, now - q.oldestWaitingSince) / 1000);
  });
  each('conveyor_flow_held_jobs', 'Waiting jobs the per-key flow gate holds back (key concurrency or key rate); never a key as a label.', ['queue'], (g, q) => {
    g.set({ queue: q.summary.name }, q.summary.counts.held ?? 0);
  });
  each('conveyor_flow_limit_hits', 'Times a key was found at its per-key limit when its turn came (monotonic, kept in Redis), by limit.', ['queue', 'limit'], (g, q) => {
    if (!q.hits) return;
    for (const limit of ['key-concurrency', 'key-rate'] as const) g.set({ queue: q.summary.name, limit }, q.hits[limit]);
  });
  each('conveyor_queue_workers', 'Worker connections consuming the queue (from CLIENT LIST; absent where Redis refuses it).', ['queue'], (g, q) => {
    if (q.workers !== undefined) g.set({ queue: q.summary.name }, q.workers);
  });
}
