/**
 * The job handler contract, and the dispatch that runs one job: find the
 * handler by job name, give it an AbortSignal, enforce the job's timeout.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import { ConveyorError, isConveyorError, type ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';

/** What a handler gets beside its data (exported as JobContext from 'conveyor'). */
export interface JobContext {
  id: string;
  queue: string;
  name: string;
  /** 1 for the first run, 2 for the first retry, ... */
  attempt: number;
  maxAttempts: number;
  /** The job's flow key (opts.key: its tenant, customer, account), if it has one. */
  key?: string;
  /** Aborted when the job's timeout passes or the worker is forced to stop. */
  signal: AbortSignal;
  log: Logger;
  /**
   * The BullMQ job, for progress and logs (job.updateProgress, job.log). In a sandbox (isolation
   * 'process' | 'thread') it is BullMQ's sandboxed job: data, opts, updateProgress, log, updateData.
   */
  job: Job;
}

/** The older name of JobContext (HANDLERS modules). */
export type HandlerContext = JobContext;

export type Handler = (data: any, ctx: JobContext) => unknown;
export type HandlerMap = Readonly<Record<string, Handler>>;

/**
 * Failures no retry can fix (bad job data, a host the policy refuses): the job
 * skips its remaining attempts and goes straight to the dead letters, where it
 * can be replayed once the data or the policy is fixed.
 */
const PERMANENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['INVALID_REQUEST', 'HTTP_HOST_REFUSED', 'PAYLOAD_INVALID']);

/**
 * The context a handler gets. Its AbortSignal is made on first use: an
 * AbortController costs ~3 µs and a listener on the stop signal ~1 µs, a
 * tenth of what a whole short job costs a worker process, and most handlers
 * never look at the signal. One that does gets a signal already aborted if the
 * timeout or the stop came first. (A class, not an object literal with a
 * getter: V8 builds those on a slow path, ~0.5 µs each.)
 */
class RunContext implements JobContext {
  readonly id: string;
  readonly queue: string;
  readonly name: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly key: string | undefined;
  readonly log: Logger;
  readonly job: Job;
  private readonly stop: AbortSignal | undefined;
  private ac: AbortController | undefined;
  private onStop: (() => void) | undefined;
  private aborted = false;
  private reason: unknown;

  constructor(queue: string, job: Job, log: Logger, stop: AbortSignal | undefined) {
    this.id = String(job.id);
    this.queue = queue;
    this.name = job.name;
    this.attempt = job.attemptsMade + 1;
    this.maxAttempts = job.opts.attempts ?? 1;
    this.key = (job.opts as { key?: string }).key;
    this.log = log;
    this.job = job;
    this.stop = stop;
  }

  get signal(): AbortSignal {
    if (!this.ac) {
      this.ac = new AbortController();
      if (this.aborted) this.ac.abort(this.reason);
      else if (this.stop?.aborted) this.abort(this.stop.reason);
      else if (this.stop) {
        const stop = this.stop;
        this.onStop = () => this.abort(stop.reason);
        stop.addEventListener('abort', this.onStop, { once: true });
      }
    }
    return this.ac.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.ac?.abort(reason);
  }

  release(): void {
    if (this.onStop) this.stop?.removeEventListener('abort', this.onStop);
  }
}

/** Runs one job with its handler; the error message of a Conveyor error starts with its code. */
export async function runJob(queue: string, job: Job, handlers: HandlerMap, log: Logger, stopSignal?: AbortSignal): Promise<unknown> {
  const handler = Object.prototype.hasOwnProperty.call(handlers, job.name) ? handlers[job.name] : undefined;
  if (!handler) {
    throw codeFirst(new ConveyorError('HANDLER_NOT_FOUND', `no handler for job name "${job.name}" on this worker; deploy one and replay the dead letter`));
  }
  const t = (job.opts as { timeout?: unknown }).timeout;
  const timeout = typeof t === 'number' && t > 0 ? t : 0;
  let timer: NodeJS.Timeout | undefined;
  const ctx = new RunContext(queue, job, log, stopSignal);
  try {
    // Without a timeout, call the handler straight away (a throw lands in the catch below).
    if (!timeout) return await handler(job.data, ctx);
    const work = Promise.resolve().then(() => handler(job.data, ctx));
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new ConveyorError('JOB_TIMEOUT', `job ran past its timeout of ${timeout} ms`);
        ctx.abort(err);
        reject(err);
      }, timeout);
    });
    work.catch(() => {}); // it may reject after the timeout won
    return await Promise.race([work, expired]);
  } catch (err) {
    if (!isConveyorError(err)) throw err;
    codeFirst(err);
    if (PERMANENT.has(err.code)) {
      const final = new UnrecoverableError(err.message);
      final.stack = err.stack?.replace(/^ConveyorError/, 'UnrecoverableError');
      throw final;
    }
    throw err;
  } finally {
    clearTimeout(timer);
    ctx.release();
  }
}

function codeFirst(err: ConveyorError): ConveyorError {
  if (!err.message.startsWith(`${err.code}:`)) err.message = `${err.code}: ${err.message}`;
  return err;
}
