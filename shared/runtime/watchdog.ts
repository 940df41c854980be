/**
 * Worker watchdog: finds BullMQ workers that went silent and replaces them.
 *
 * BullMQ's most reported production bug is a worker that stops fetching
 * after a failover or a long outage while its queue fills up and Redis
 * answers (taskforcesh/bullmq #648, #3088, #3185, #2964, #4378, #4585): a
 * blocking command that never settles parks the fetch loop, or the loop
 * ends after an error and is never restarted. Nothing in BullMQ notices.
 *
 * Every few seconds, for each queue this host consumes, a worker counts as
 * silent when all of these hold:
 *  - the host is running and the BullMQ worker is not paused or closing
 *    (a paused worker is quiet on purpose) and the queue is not paused;
 *  - jobs have been waiting in the queue for longer than the threshold (seen
 *    waiting at every check for that long, so a job that just arrived is no
 *    evidence), and this host started no job of that queue meanwhile;
 *  - this host runs no job of that queue (so nothing is lost by replacing the
 *    worker; a worker busy with a long job is left alone);
 *  - Redis answers PING on the worker's connection (an outage is not a
 *    silent worker: the worker waits it out by itself).
 * Then the worker is closed (force) and a new one takes its place; logged at
 * warn and counted in host.stats.watchdogRestarts (and the host's
 * 'worker-recreated' event).
 *
 * Every check is read-only and costs three small commands per queue.
 */
import type { Logger } from '../log.ts';
import { QueueSet } from '../queue/queue-set.ts';
import type { WorkerHost } from './worker-host.ts';

export interface WatchdogOptions {
  logger: Logger;
  /** How often to check (default 5 s). */
  intervalMs?: number;
  /** How long jobs may wait with no job started before the worker counts as silent (default 15 s: 3 × BullMQ's 5 s drainDelay). */
  silentMs?: number;
  /** How long PING may take (default 2 s). */
  pingTimeoutMs?: number;
}

export const WATCHDOG_INTERVAL_MS = 5_000;
/** 3 × BullMQ's drainDelay (5 s), and above 10 s: an idle worker re-polls at least every drainDelay. */
export const WATCHDOG_SILENT_MS = 15_000;

interface QueueWatch {
  /** Last time this host started a job of the queue (or began watching it). */
  lastStart: number;
  /** First check of the current run of checks that all saw waiting jobs. */
  waitingSince: number | undefined;
}

export class Watchdog {
  private readonly host: WorkerHost;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly silentMs: number;
  private readonly pingTimeoutMs: number;
  private readonly watches = new Map<string, QueueWatch>();
  private timer: NodeJS.Timeout | undefined;
  private queues: QueueSet | undefined;
  private checking: Promise<void> | undefined;

  constructor(host: WorkerHost, opts: WatchdogOptions) {
    this.host = host;
    this.log = opts.logger.child({ part: 'watchdog' });
    this.intervalMs = opts.intervalMs ?? WATCHDOG_INTERVAL_MS;
    this.silentMs = opts.silentMs ?? WATCHDOG_SILENT_MS;
    this.pingTimeoutMs = opts.pingTimeoutMs ?? 2000;
    host.on('started', () => this.start());
    host.on('stopping', () => void this.stop());
    host.on('job-active', (queue) => {
      const w = this.watches.get(queue);
      if (w) {
        w.lastStart = Date.now();
        w.waitingSince = undefined;
      }
    });
  }

  private start(): void {
    if (this.timer || !this.host.connection) return;
    this.queues = new QueueSet(this.host.connection);
    const now = Date.now();
    for (const q of this.host.queues) this.watches.set(q, { lastStart: now, waitingSince: undefined });
    this.timer = setInterval(() => {
      if (!this.checking) this.checking = this.checkAll().finally(() => (this.checking = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.checking;
    await this.queues?.close();
    this.queues = undefined;
  }

  /** One round over every queue (also called by tests). */
  async checkAll(): Promise<void> {
    for (const queue of this.watches.keys()) {
      try {
        await this.check(queue);
      } catch (err) {
        // Redis trouble: not a silent worker; the next round looks again.
        const w = this.watches.get(queue);
        if (w) w.waitingSince = undefined;
        this.log.debug({ queue, err: String(err) }, 'watchdog check failed');
      }
    }
  }

  private async check(queue: string): Promise<void> {
    const watch = this.watches.get(queue);
    const worker = this.host.bullWorkers().get(queue);
    if (!watch || !worker || !this.queues || this.host.lifecycle !== 'running') return;
    const now = Date.now();
    const source = this.queues.source(queue);
    const closing = Boolean((worker as unknown as { closing?: unknown }).closing);
    if (worker.isPaused() || closing || (await source.isPaused())) {
      watch.waitingSince = undefined;
      watch.lastStart = now;
      return;
    }
    const waiting = await source.getJobCountByTypes('waiting', 'prioritized');
    if (waiting === 0 || this.host.activeJobs(queue) > 0) {
      watch.waitingSince = undefined;
      return;
    }
    watch.waitingSince ??= now;
    if (now - watch.waitingSince < this.silentMs || now - watch.lastStart < this.silentMs) return;
    if (!(await this.pings())) {
      watch.waitingSince = undefined;
      return;
    }
    this.log.warn(
      { queue, waiting, silentForMs: now - watch.lastStart, fetching: worker.isRunning() },
      `the worker of queue ${queue} started no job for ${Math.round((now - watch.lastStart) / 1000)} s while ${waiting} waited and Redis answered: replacing it`,
    );
    watch.lastStart = Date.now();
    watch.waitingSince = undefined;
    await this.host.recreateWorker(queue, 'silent');
  }

  private async pings(): Promise<boolean> {
    const conn = this.host.connection;
    if (!conn) return false;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<false>((r) => (timer = setTimeout(() => r(false), this.pingTimeoutMs)));
    try {
      return await Promise.race([conn.ping().then((p) => p === 'PONG'), expired]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Watches a host's workers from its start to its stop. */
export function attachWatchdog(host: WorkerHost, opts: WatchdogOptions): Watchdog {
  return new Watchdog(host, opts);
}
