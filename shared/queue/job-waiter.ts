/**
 * waitFor(job): the result of a job, or its failure, without polling Redis in
 * a loop. One BullMQ QueueEvents per queue waited on (XREAD BLOCK on the
 * queue's event stream, on a connection of its own: a blocking read must not
 * hold up anything else) tells when a job completes or fails for good; the
 * job's state is read once after subscribing (it may have finished before)
 * and again every few seconds, so a missed event (a trimmed stream, a
 * reconnect) delays the answer but never loses it.
 *
 * A retried attempt is no answer: BullMQ emits "failed" only when a job
 * fails for good (its last attempt, or an UnrecoverableError); Conveyor then
 * moves it to the dead letters. Either state means JOB_FAILED.
 */
import { QueueEvents } from 'bullmq';
import { ConveyorError, ERROR_CODES, type ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import { closeRedis, type RedisConnection } from '../redis/connections.ts';
import { bullName, PREFIX } from './names.ts';
import type { Inspector } from './inspector.ts';

/** How often a waiting call re-reads the job's state, in case an event went missing. */
const RECHECK_MS = 2000;

export interface JobWaiterDeps {
  inspector: Inspector;
  /** A new blocking-capable connection (maxRetriesPerRequest: null), closed by the waiter. */
  connect: (name: string) => RedisConnection;
  logger: Logger;
}

interface Listening {
  events: QueueEvents;
  conn: RedisConnection;
  ready: Promise<unknown>;
}

/** The code a failure reason starts with ("JOB_TIMEOUT: job ran past…"), when it is one of Conveyor's. */
export function failureCodeOf(reason: string | null | undefined): ErrorCode | undefined {
  const m = /^([A-Z][A-Z0-9_]+):/.exec(reason ?? '');
  return m && m[1]! in ERROR_CODES ? (m[1] as ErrorCode) : undefined;
}

export function jobFailed(queue: string, id: string, reason: string | null | undefined, attemptsMade?: number): ConveyorError {
  const failureCode = failureCodeOf(reason);
  return new ConveyorError('JOB_FAILED', reason || `job "${id}" of queue "${queue}" failed`, { queue, id, failureCode, ...(attemptsMade !== undefined ? { attemptsMade } : {}) });
}

export class JobWaiter {
  private readonly deps: JobWaiterDeps;
  private readonly listening = new Map<string, Listening>();
  private closed = false;

  constructor(deps: JobWaiterDeps) {
    this.deps = deps;
  }

  private listen(queue: string): Listening {
    let l = this.listening.get(queue);
    if (!l) {
      const conn = this.deps.connect(`conveyor-wait:${queue}`);
      const events = new QueueEvents(bullName(queue), { connection: conn, prefix: PREFIX });
      events.on('error', (err) => this.deps.logger.debug({ queue, err: String(err) }, 'job waiter: event stream error (it reconnects)'));
      // Ready once its XREAD is on the wire: later events reach it.
      l = { events, conn, ready: events.waitUntilReady() };
      this.listening.set(queue, l);
    }
    return l;
  }

  /** The job's return value, JOB_FAILED, JOB_NOT_FOUND or WAIT_TIMEOUT. */
  async waitFor(queue: string, id: string, timeoutMs: number): Promise<unknown> {
    if (this.closed) throw new ConveyorError('SHUTTING_DOWN', 'this Conveyor is closed');
    const { events, ready } = this.listen(queue);
    await ready;
    // Per-job event names ("completed:<id>") are not in QueueEvents' typed listener map.
    const bus = events as unknown as NodeJS.EventEmitter;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        bus.off(`completed:${id}`, onCompleted);
        bus.off(`failed:${id}`, onFailed);
        clearTimeout(timer);
        clearInterval(recheck);
        fn();
      };
      const onCompleted = (args: { returnvalue: unknown }) => settle(() => resolve(args.returnvalue ?? null));
      const onFailed = (args: { failedReason: string }) => settle(() => reject(jobFailed(queue, id, args.failedReason)));
      bus.on(`completed:${id}`, onCompleted);
      bus.on(`failed:${id}`, onFailed);
      const timer = setTimeout(
        () => settle(() => reject(new ConveyorError('WAIT_TIMEOUT', `job "${id}" of queue "${queue}" had not finished after ${timeoutMs} ms; it goes on`, { queue, id, timeoutMs }))),
        timeoutMs,
      );
      const check = async () => {
        const job = await this.deps.inspector.getJob(queue, id);
        if (!job) settle(() => reject(new ConveyorError('JOB_NOT_FOUND', `no job "${id}" in queue "${queue}" (or its dead letters)`, { queue, id })));
        else if (job.state === 'completed') settle(() => resolve(job.returnValue));
        else if (job.state === 'failed' || job.state === 'dead') settle(() => reject(jobFailed(queue, id, job.failedReason, job.attemptsMade)));
      };
      // A Redis hiccup here is no answer: the next check or the event gives it.
      const checkQuietly = () => void check().catch(() => {});
      const recheck = setInterval(checkQuietly, RECHECK_MS);
      recheck.unref();
      checkQuietly();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.listening.values()];
    this.listening.clear();
    await Promise.allSettled(all.map(async (l) => {
      await l.events.close().catch(() => {});
      await closeRedis(l.conn);
    }));
  }
}
