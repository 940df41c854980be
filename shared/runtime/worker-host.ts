/**
 * WorkerHost: one BullMQ Worker per consumed queue in this process, with
 * Conveyor's additions: dispatch by job name, timeouts, dead letters, quick
 * stalled-job recovery and a graceful stop with a deadline.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Worker, WaitingError, type Job, type Telemetry } from 'bullmq';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log.ts';
import { closeRedis, createRedis, waitUntilReady, type RedisConnection } from '../redis/connections.ts';
import { bullName, PREFIX } from '../queue/names.ts';
import { QueueSet } from '../queue/queue-set.ts';
import { DeadLetters } from '../queue/dead-letter.ts';
import { runJob, type HandlerMap } from './handler.ts';
import { FlowGate } from '../flow/gate.ts';
import { BatchHooks } from '../batches/worker-hooks.ts';
import type { Service } from './service.ts';
import type { BenchPart } from './bench-switches.ts';

export interface WorkerHostOptions {
  config: Readonly<Config>;
  handlers: HandlerMap;
  logger: Logger;
  /** Override config.queues (tests). */
  queues?: readonly string[];
  /** OpenTelemetry (bullmq-otel, shared/tracing.ts): a span per job, joined to its enqueue's trace. */
  telemetry?: Telemetry;
  /** Its id in the fleet (default: a new workerId()). */
  id?: string;
  /** Bench-only: parts switched off (shared/runtime/bench-switches.ts). */
  off?: ReadonlySet<BenchPart>;
}

/** A worker process's id in the fleet: host:pid:random (several workers may share a process). */
export function workerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export interface WorkerStats {
  processed: number;
  failed: number;
  active: number;
  /** BullMQ workers replaced because they had gone silent (watchdog.ts). */
  watchdogRestarts: number;
}

/**
 * What a WorkerHost tells the parts of the process built around it (fleet
 * heartbeat, metrics, watchdog): they subscribe; the host knows none of them.
 * No listener may do Redis work per job: the hot path stays BullMQ's.
 */
export interface WorkerHostEvents {
  started: [];
  'job-active': [queue: string, job: Job];
  'job-completed': [queue: string, job: Job, durationMs: number];
  'job-failed': [queue: string, job: Job, err: Error, final: boolean];
  'worker-error': [queue: string, err: Error];
  /** recreateWorker() replaced the queue's BullMQ worker (reason: 'silent' from the watchdog). */
  'worker-recreated': [queue: string, reason: string];
  stopping: [];
  stopped: [];
}

/** A job this process is running, with the lock token that lets it hand the job back. */
interface Running {
  queue: string;
  job: Job;
  token: string | undefined;
  /** Moved back to wait at the end of the grace period: its end is not an attempt. */
  handedBack: boolean;
}

/** BullMQ's Worker plus the two handles a shutdown deadline needs (its lock manager is protected). */
class HostedWorker extends Worker {
  /** Stops renewing the lock of a job handed back to its queue. */
  forgetJob(jobId: string): void {
    this.lockManager.untrackJob(jobId);
  }

  /**
   * Past the deadline, with handlers that ignore their abort signal, close()
   * never resolves: stop the lock renewals and the stalled check ourselves so
   * no timer of this worker outlives stop().
   */
  async abandon(): Promise<void> {
    await this.pause(true).catch(() => {});
    await this.lockManager.close();
  }
}

/** After the grace period, how long force-closing may take before the process gives up on it. */
const FORCE_CLOSE_MS = 2000;

/** How often each process repairs dead letters a crash left in a failed set. */
const SWEEP_INTERVAL_MS = 30_000;

/**
 * How often each process ticks the flow gate of each queue it consumes
 * (flow/gate-scripts.ts TICK): rate windows that opened, limits changed at
 * run time, slots of jobs that finished without telling the gate.
 */
export const GATE_TICK_MS = 250;
/** Every this many ticks, a tick re-checks up to GATE_CHECK admitted jobs. */
const GATE_CHECK_EVERY = 4;
const GATE_CHECK = 200;

/** A job the gate may not have admitted: not parked by its enqueue, or came back by another road (a delay, a debounce). */
function needsAdmission(job: Job): boolean {
  const o = job.opts as { fg?: number; delay?: number; deduplication?: unknown };
  return o.fg !== 1 || (o.delay ?? 0) > 0 || o.deduplication !== undefined;
}

export class WorkerHost extends EventEmitter<WorkerHostEvents> implements Service {
  readonly id: string;
  readonly stats: WorkerStats = { processed: 0, failed: 0, active: 0, watchdogRestarts: 0 };
  private readonly opts: WorkerHostOptions;
  private readonly log: Logger;
  private readonly workers = new Map<string, HostedWorker>();
  private conn: RedisConnection | undefined;
  private queueSet: QueueSet | undefined;
  private deadLetters: DeadLetters | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private gate: FlowGate | undefined;
  /** Batches: settles after a batch job finished, the batch sweep (nothing for a plain job). */
  private batches: BatchHooks | undefined;
  private gateTimer: NodeJS.Timeout | undefined;
  private gateTicks = 0;
  /** Per queue: gated, as the last tick saw it. */
  private readonly gated = new Map<string, boolean>();
  /** Per queue: finished jobs whose slots go back in the next release (one script per turn of the event loop). */
  private readonly toRelease = new Map<string, string[]>();
  private releaseScheduled = false;
  private readonly forceStop = new AbortController();
  /** One entry per job in flight (no key string built per job: this is the hot path). */
  private readonly running = new Set<Running>();
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  /** Set by quiet(): a job fetched after it goes back to its queue unrun. */
  private quieted = false;
  private stopping: Promise<void> | undefined;

  constructor(opts: WorkerHostOptions) {
    super();
    this.opts = opts;
    this.id = opts.id ?? workerId();
    this.log = opts.logger.child({ worker: this.id });
  }

  get queues(): readonly string[] {
    return this.opts.queues ?? this.opts.config.queues;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`WorkerHost.start() called in state ${this.state}`);
    this.state = 'starting';
    const { config } = this.opts;
    this.conn = createRedis(config.redis, { role: 'worker', tlsCa: config.redisTlsCa, logger: this.log, name: `conveyor-worker` });
    await waitUntilReady(this.conn, config.redis.redacted);
    this.queueSet = new QueueSet(this.conn);
    this.deadLetters = new DeadLetters(this.queueSet);
    this.gate = new FlowGate(this.conn);
    this.batches = new BatchHooks(this.queueSet, this.gate, this.log, { minReplicas: config.enqueueMinReplicas, waitTimeoutMs: config.enqueueWaitTimeoutMs });
    for (const queue of this.queues) {
      await this.queueSet.register(queue);
      this.gated.set(queue, (await this.gate.tick(queue)).gated);
      this.workers.set(queue, this.createWorker(queue));
    }
    const off = this.opts.off;
    if (!off?.has('gate')) {
      this.gateTimer = setInterval(() => void this.tickGates(), GATE_TICK_MS);
      this.gateTimer.unref();
    }
    if (!off?.has('deadletter')) {
      this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
      this.sweepTimer.unref();
      void this.sweep();
    }
    this.batches.start(() => this.workers.keys());
    this.state = 'running';
    this.log.info({ queues: this.queues, concurrency: config.concurrency }, 'worker started');
    this.emit('started');
  }

  /** The process's worker connection (for parts like the heartbeat; do not close it). */
  get connection(): RedisConnection | undefined {
    return this.conn;
  }

  get config(): Readonly<Config> {
    return this.opts.config;
  }

  /** running | stopping | ... */
  get lifecycle(): string {
    return this.state;
  }

  /** The BullMQ workers by queue (read-only use: isRunning, isPaused). */
  bullWorkers(): ReadonlyMap<string, Worker> {
    return this.workers;
  }

  /** Jobs of this queue this process is running now. */
  activeJobs(queue: string): number {
    let n = 0;
    for (const r of this.running) if (r.queue === queue) n++;
    return n;
  }

  /**
   * Replaces the queue's BullMQ worker with a new one (the watchdog's cure for
   * a worker that stopped fetching). The old one is force-closed within a
   * deadline and, if even that hangs, abandoned (its timers stopped); its
   * running jobs, if any, are not waited for: their locks lapse and the
   * stalled check runs them again, so the watchdog calls this only when the
   * queue has none here.
   */
  async recreateWorker(queue: string, reason: string): Promise<void> {
    const old = this.workers.get(queue);
    if (!old || this.state !== 'running') return;
    this.workers.set(queue, this.createWorker(queue));
    if (reason === 'silent') this.stats.watchdogRestarts++;
    this.emit('worker-recreated', queue, reason);
    if ((await raceTimeout(old.close(true), FORCE_CLOSE_MS)) === 'timeout') await old.abandon();
  }

  private createWorker(queue: string): HostedWorker {
    const { config, handlers } = this.opts;
    const log = this.log.child({ queue });
    const processor = async (job: Job, token?: string): Promise<unknown> => {
      if (this.quieted && token) {
        // BullMQ's pause() does not cut a fetch already blocked in Redis: the
        // job it brings in after quiet() goes back to wait, no attempt counted.
        await job.moveToWait(token);
        this.workers.get(queue)?.forgetJob(String(job.id));
        throw new WaitingError();
      }
      if (this.gated.get(queue) && needsAdmission(job) && token) {
        const o = job.opts as { key?: string; priority?: number };
        if (!(await this.gate!.start(queue, String(job.id), o.key, o.priority ?? 0))) {
          // Back in the gate (its lock dropped): no attempt counted, BullMQ leaves it alone.
          this.workers.get(queue)?.forgetJob(String(job.id));
          throw new WaitingError();
        }
      }
      const r: Running = { queue, job, token, handedBack: false };
      this.running.add(r);
      this.stats.active = this.running.size;
      this.emit('job-active', queue, job);
      try {
        let result: unknown;
        try {
          result = await runJob(queue, job, handlers, log, this.forceStop.signal);
        } catch (err) {
          if (r.handedBack) throw new WaitingError();
          throw err;
        }
        // WaitingError tells BullMQ the job is back in wait: no failure, no retry
        // counted, no completion written over a lock we gave up.
        if (r.handedBack) throw new WaitingError();
        return result;
      } finally {
        this.running.delete(r);
        this.stats.active = this.running.size;
      }
    };
    const worker = new HostedWorker(bullName(queue), processor, {
      connection: this.conn!,
      prefix: PREFIX,
      // BullMQ writes its `name` into each job's hash as it starts ("pb", in
      // the same HMSET as processedOn): the job history's worker of each
      // attempt. No command is added per job (docs/benchmarks.md "History").
      ...(this.opts.off?.has('name') ? {} : { name: this.id }),
      concurrency: config.concurrency,
      // A killed worker's jobs come back after lockDuration + at most one
      // stalledInterval (15 s with the defaults), not BullMQ's 30 + 30 s.
      lockDuration: config.lockDurationMs,
      stalledInterval: config.stalledIntervalMs,
      // A job is stalled again by each failover or crash it lives through; be lenient.
      maxStalledCount: 3,
      autorun: true,
      ...(this.opts.telemetry ? { telemetry: this.opts.telemetry } : {}),
    });
    worker.on('completed', (job) => {
      this.stats.processed++;
      if (this.gated.get(queue) || (job.opts as { fg?: number }).fg === 1) this.release(queue, String(job.id));
      if ((job.opts as { bt?: string }).bt !== undefined) this.batches!.finished(queue, job);
      this.emit('job-completed', queue, job, job.finishedOn && job.processedOn ? job.finishedOn - job.processedOn : 0);
    });
    worker.on('failed', (job, err) => {
      if (!job) return; // a stalled job failed by the checker: the sweep buries it
      this.stats.failed++;
      const final = Boolean(job.finishedOn);
      this.emit('job-failed', queue, job, err, final);
      const durationMs = job.processedOn ? Date.now() - job.processedOn : undefined;
      log.warn({ jobId: job.id, jobName: job.name, attempt: job.attemptsMade, durationMs, final, err: err.message }, final ? 'job failed for good' : 'job attempt failed');
      if (final && (this.gated.get(queue) || (job.opts as { fg?: number }).fg === 1)) this.release(queue, String(job.id));
      if ((job.opts as { bt?: string }).bt !== undefined) this.batches!.failed(queue, job, final);
      if (final) {
        this.deadLetters!.bury(queue, String(job.id)).catch((e: unknown) => {
          log.warn({ jobId: job.id, err: String(e) }, 'could not move job to dead letters yet; the sweep will retry');
        });
      }
    });
    worker.on('error', (err) => {
      this.emit('worker-error', queue, err);
      log.warn({ err: err.message }, 'worker error');
    });
    return worker;
  }

  /** Gives a finished job's key slot back; the releases of one turn of the event loop go in one script per queue. */
  private release(queue: string, id: string): void {
    let ids = this.toRelease.get(queue);
    if (!ids) this.toRelease.set(queue, (ids = []));
    ids.push(id);
    if (this.releaseScheduled) return;
    this.releaseScheduled = true;
    setImmediate(() => void this.flushReleases());
  }

  private flushReleases(): Promise<unknown> {
    this.releaseScheduled = false;
    const all: Promise<unknown>[] = [];
    for (const [q, batch] of this.toRelease) {
      this.toRelease.delete(q);
      // Lost (Redis down, the process killed): the gate's check finds the job finished and releases it.
      const p = this.gate?.release(q, batch).catch((err: unknown) => this.log.debug({ queue: q, err: String(err) }, 'flow release failed; the gate check will repair it'));
      if (p) all.push(p);
    }
    return Promise.all(all);
  }

  private ticking = false;

  private async tickGates(): Promise<void> {
    if (this.ticking || this.state !== 'running') return;
    this.ticking = true;
    const check = ++this.gateTicks % GATE_CHECK_EVERY === 0 ? GATE_CHECK : 0;
    try {
      for (const queue of this.workers.keys()) {
        try {
          const t = await this.gate!.tick(queue, check);
          this.gated.set(queue, t.gated);
          if (t.released > 0) this.log.info({ queue, released: t.released }, 'flow gate: gave back the slots of jobs that finished without releasing them');
        } catch (err) {
          this.log.debug({ queue, err: String(err) }, 'flow gate tick failed; next time');
        }
      }
    } finally {
      this.ticking = false;
    }
  }

  private async sweep(): Promise<void> {
    for (const queue of this.workers.keys()) {
      try {
        const n = await this.deadLetters!.sweep(queue);
        if (n > 0) this.log.info({ queue, moved: n }, 'moved failed jobs to dead letters');
      } catch (err) {
        this.log.debug({ queue, err: String(err) }, 'dead-letter sweep failed; next time');
      }
    }
  }

  /**
   * Quiet: take no new jobs; running ones go on.
   */
  async quiet(): Promise<void> {
    this.quieted = true;
    await Promise.all([...this.workers.values()].map((w) => w.pause(true)));
  }

  /**
   * Graceful stop: take no new jobs, let running ones finish within
   * SHUTDOWN_GRACE_MS, then hand the unfinished ones back to their queues
   * (another worker starts them at once), abort their handlers and close.
   * Idempotent; safe before start().
   */
  stop(): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    if (this.state === 'new') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    this.emit('stopping');
    clearInterval(this.sweepTimer);
    clearInterval(this.gateTimer);
    const grace = this.opts.config.shutdownGraceMs;
    this.log.info({ graceMs: grace, active: this.running.size }, 'stopping worker');
    // close() stops fetching at once (it cuts the blocking connection) and
    // resolves when the running jobs have finished.
    const graceful = Promise.all([...this.workers.values()].map((w) => w.close()));
    graceful.catch(() => {});
    const outcome = await raceTimeout(graceful, grace);
    if (outcome === 'timeout') {
      // BullMQ's close() has no deadline of its own. Hand the unfinished jobs
      // back to their queues so another worker starts them now (not after
      // their locks lapse), then abort their handlers. close(true) would not
      // help: a worker already closing returns the same pending promise.
      const handed = await this.handBack();
      this.log.warn({ handedBack: handed, graceMs: grace }, 'grace period over; unfinished jobs go back to their queues to run again elsewhere');
      this.forceStop.abort(new Error('worker stopping: grace period over'));
      if ((await raceTimeout(graceful, FORCE_CLOSE_MS)) === 'timeout') {
        this.log.warn({ active: this.running.size }, 'handlers ignored the abort signal; closing anyway');
        await Promise.all([...this.workers.values()].map((w) => w.abandon()));
      }
    }
    this.workers.clear();
    await this.flushReleases();
    await this.batches?.stop();
    await this.queueSet?.close();
    await closeRedis(this.conn);
    this.state = 'stopped';
    this.log.info('worker stopped');
    this.emit('stopped');
  }

  /**
   * Moves every running job back to wait (or prioritized), releasing its
   * lock without counting an attempt. A job that cannot be moved (Redis
   * down) keeps its lock until it lapses; the stalled-job check of another
   * worker then runs it again.
   */
  private async handBack(): Promise<number> {
    let moved = 0;
    await Promise.all(
      [...this.running].map(async (r) => {
        r.handedBack = true;
        if (!r.token) return;
        try {
          await r.job.moveToWait(r.token);
          this.workers.get(r.queue)?.forgetJob(String(r.job.id));
          moved++;
        } catch (err) {
          this.log.warn({ jobId: r.job.id, err: String(err) }, 'could not hand the job back; it runs again when its lock lapses');
        }
      }),
    );
    return moved;
  }
}

function raceTimeout(p: Promise<unknown>, ms: number): Promise<'done' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  return Promise.race([p.then(() => 'done' as const, () => 'done' as const), expired]).finally(() => clearTimeout(timer));
}
