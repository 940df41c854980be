/**
 * Job counters and histograms of a worker process, fed by WorkerHost events.
 * In-process only: a job costs a few map lookups and additions, never a Redis
 * round trip. Children (the series of one queue and job name) are cached so
 * the hot path does not hash label sets.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Job } from 'bullmq';
import type { WorkerHost } from '../runtime/worker-host.ts';
import { JobNameLabels } from './labels.ts';

/** Seconds; jobs run from milliseconds (noop) to minutes (webhooks with retries, reports). */
export const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
/** Seconds from runnable to started: milliseconds when workers keep up, hours when a queue backs up. */
export const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400];

interface Series {
  processed: Counter.Internal;
  failed: Counter.Internal;
  retried: Counter.Internal;
  dead: Counter.Internal;
  duration: Histogram.Internal<'queue' | 'name'>;
  wait: Histogram.Internal<'queue' | 'name'>;
}

export class JobMetrics {
  private readonly processed: Counter<'queue' | 'name'>;
  private readonly failed: Counter<'queue' | 'name'>;
  private readonly retried: Counter<'queue' | 'name'>;
  private readonly dead: Counter<'queue' | 'name'>;
  private readonly duration: Histogram<'queue' | 'name'>;
  private readonly wait: Histogram<'queue' | 'name'>;
  private readonly workerErrors: Counter<'queue'>;
  private readonly names: JobNameLabels;
  private readonly series = new Map<string, Series>();

  constructor(registry: Registry, knownNames?: Iterable<string>) {
    const registers = [registry];
    const labelNames = ['queue', 'name'] as const;
    this.names = new JobNameLabels(knownNames);
    this.processed = new Counter({ name: 'conveyor_jobs_processed_total', help: 'Job attempts finished (completed or failed), by queue and job name.', labelNames, registers });
    this.failed = new Counter({ name: 'conveyor_jobs_failed_total', help: 'Job attempts that failed (each retry counts), by queue and job name.', labelNames, registers });
    this.retried = new Counter({ name: 'conveyor_jobs_retried_total', help: 'Failed attempts that will be retried, by queue and job name.', labelNames, registers });
    this.dead = new Counter({ name: 'conveyor_jobs_dead_lettered_total', help: 'Jobs that exhausted their attempts (or failed unrecoverably) and went to the dead letters.', labelNames, registers });
    this.duration = new Histogram({ name: 'conveyor_job_duration_seconds', help: 'How long an attempt ran, by queue and job name.', labelNames, buckets: DURATION_BUCKETS, registers });
    this.wait = new Histogram({
      name: 'conveyor_job_wait_seconds',
      help: 'Enqueue-to-start latency of first attempts: from when a job became runnable (created, or its delay over) to when a worker started it.',
      labelNames,
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.workerErrors = new Counter({ name: 'conveyor_worker_errors_total', help: 'Errors BullMQ workers reported (mostly lost Redis connections), by queue.', labelNames: ['queue'], registers });
  }

  /** Subscribes to a WorkerHost's job events, and exposes its state as gauges. */
  attach(host: WorkerHost, registry: Registry): void {
    host.on('job-active', (queue, job) => this.started(queue, job));
    host.on('job-completed', (queue, job, ms) => this.finished(queue, job, ms, undefined));
    host.on('job-failed', (queue, job, _err, final) => this.finished(queue, job, job.processedOn ? Date.now() - job.processedOn : 0, final));
    host.on('worker-error', (queue) => this.workerErrors.inc({ queue }));
    for (const queue of host.queues) this.workerErrors.inc({ queue }, 0);
    const registers = [registry];
    // The watchdog (shared/runtime/watchdog.ts) recreates a BullMQ worker that went silent: reason "silent".
    const restarts = new Counter({ name: 'conveyor_watchdog_restarts_total', help: 'BullMQ workers the watchdog recreated because they stopped fetching jobs while jobs waited, by queue.', labelNames: ['queue'], registers });
    for (const queue of host.queues) restarts.inc({ queue }, 0);
    host.on('worker-recreated', (queue, reason) => {
      if (reason === 'silent') restarts.inc({ queue });
    });
    new Gauge({
      name: 'conveyor_worker_active_jobs',
      help: 'Jobs this worker process is running now.',
      registers,
      collect() {
        this.set(host.stats.active);
      },
    });
    new Gauge({ name: 'conveyor_worker_concurrency', help: 'CONCURRENCY of this worker process (jobs it may run at once per queue).', registers }).set(host.config.concurrency);
    new Gauge({
      name: 'conveyor_worker_running',
      help: '1 while this worker process takes jobs; 0 while starting or stopping.',
      registers,
      collect() {
        this.set(host.lifecycle === 'running' ? 1 : 0);
      },
    });
  }

  started(queue: string, job: Job): void {
    if (job.attemptsMade > 0) return; // retries wait for their backoff on purpose
    const runnableAt = job.timestamp + (job.delay > 0 ? job.delay : 0);
    const startedAt = job.processedOn ?? Date.now();
    this.of(queue, job.name).wait.observe(Math.max(0, startedAt - runnableAt) / 1000);
  }

  /** final: undefined when the attempt completed; true/false for a failed one (false = will be retried). */
  finished(queue: string, job: Job, durationMs: number, final: boolean | undefined): void {
    const s = this.of(queue, job.name);
    s.processed.inc();
    s.duration.observe(Math.max(0, durationMs) / 1000);
    if (final === undefined) return;
    s.failed.inc();
    if (final) s.dead.inc();
    else s.retried.inc();
  }

  private of(queue: string, jobName: string): Series {
    const name = this.names.label(jobName);
    const key = `${queue}\u0000${name}`;
    let s = this.series.get(key);
    if (!s) {
      const l = { queue, name };
      s = {
        processed: this.processed.labels(l),
        failed: this.failed.labels(l),
        retried: this.retried.labels(l),
        dead: this.dead.labels(l),
        duration: this.duration.labels(l),
        wait: this.wait.labels(l),
      };
      this.series.set(key, s);
      // Present from the first job on, so rate() and ratios see a 0 rather than no series.
      s.failed.inc(0);
      s.retried.inc(0);
      s.dead.inc(0);
    }
    return s;
  }
}
