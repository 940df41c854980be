/**
 * Dead letters. BullMQ has none: a job that exhausts its attempts sits in its
 * queue's failed set. Conveyor moves it to the queue's dead-letter queue (a
 * BullMQ queue "{name}.dead" in the same hash slot, never consumed), keeping
 * its id, name, data, options, error, stack, attempts and timestamps.
 *
 * Every step is idempotent so a crash anywhere loses nothing and doubles
 * nothing: add the dead letter under the job's own id (a second add is a
 * no-op), then remove the failed original. A sweep redoes whatever a crash
 * interrupted. Replay is the same dance in reverse.
 */
import type { Job, Queue } from 'bullmq';
import { ConveyorError } from '../errors.ts';
import { toPublicOptions, toBullOptions, type PublicJobOptions } from './job-input.ts';
import type { QueueSet } from './queue-set.ts';
import { replayIntoBatch, type DeadBatchLink } from '../batches/replay.ts';
import { batchOf } from '../batches/store.ts';

/** What the dead-letter queue stores as the dead job's data. */
export interface DeadEnvelope {
  data: unknown;
  opts: PublicJobOptions;
  failedReason: string;
  stacktrace: string[];
  attemptsMade: number;
  createdAt: number | null;
  processedAt: number | null;
  finishedAt: number | null;
  /** The worker of the last attempt (BullMQ's processedBy): the job history's worker once the job's own hash is gone. */
  processedBy?: string;
  /** The batch the job belonged to: a replay puts it back into the batch (shared/batches/replay.ts). */
  batch?: DeadBatchLink;
}

export interface DeadLetter {
  id: string;
  queue: string;
  name: string;
  state: 'dead';
  data: unknown;
  opts: PublicJobOptions;
  attemptsMade: number;
  returnValue: null;
  failedReason: string;
  stacktrace: string[];
  createdAt: string | null;
  processedAt: string | null;
  finishedAt: string | null;
  deadAt: string | null;
}

export const iso = (ms: number | null | undefined): string | null => (typeof ms === 'number' && ms > 0 ? new Date(ms).toISOString() : null);

function isEnvelope(v: unknown): v is DeadEnvelope {
  return typeof v === 'object' && v !== null && 'failedReason' in v && 'attemptsMade' in v;
}

export function toDeadLetter(queue: string, job: Job): DeadLetter {
  const env: DeadEnvelope = isEnvelope(job.data)
    ? job.data
    : { data: job.data, opts: {}, failedReason: '', stacktrace: [], attemptsMade: 0, createdAt: null, processedAt: null, finishedAt: null };
  return {
    id: String(job.id),
    queue,
    name: job.name,
    state: 'dead',
    data: env.data,
    opts: env.opts,
    attemptsMade: env.attemptsMade,
    returnValue: null,
    failedReason: env.failedReason,
    stacktrace: env.stacktrace,
    createdAt: iso(env.createdAt),
    processedAt: iso(env.processedAt),
    finishedAt: iso(env.finishedAt),
    deadAt: iso(job.timestamp),
  };
}

export interface Page<T> {
  jobs: T[];
  total: number;
  offset: number;
  limit: number;
}

export class DeadLetters {
  private readonly queues: QueueSet;

  constructor(queues: QueueSet) {
    this.queues = queues;
  }

  /**
   * Moves one job from its queue's failed set to the dead-letter queue. A job
   * not in the failed set (retrying, already moved, replayed) is left alone.
   * Returns true when the job is now a dead letter.
   */
  async bury(queue: string, jobId: string): Promise<boolean> {
    const source = this.queues.source(queue);
    const job = await source.getJob(jobId);
    if (!job) return false;
    if ((await job.getState()) !== 'failed') return false;
    const envelope: DeadEnvelope = {
      data: job.data,
      opts: toPublicOptions(job.opts as Record<string, unknown>),
      failedReason: job.failedReason ?? '',
      stacktrace: job.stacktrace ?? [],
      attemptsMade: job.attemptsMade,
      createdAt: job.timestamp ?? null,
      processedAt: job.processedOn ?? null,
      finishedAt: job.finishedOn ?? null,
      ...(job.processedBy ? { processedBy: job.processedBy } : {}),
      ...batchLink(queue, job.opts),
    };
    // Same id: a second bury after a crash is a no-op add. But the dead letter under this id may be
    // an earlier life of the job that a replay is still taking out (it adds the job back first, then
    // removes the dead letter): the job can run and fail again in between. Then the add is a no-op
    // too, and removing the job here would lose it. So the job leaves its failed set only once the
    // dead letter under its id is this failure; a stale one is waited out (the replay removes it
    // within a round trip), and past that the sweep buries the job later.
    const dq = this.queues.dead(queue);
    for (let tries = 0; ; tries++) {
      await dq.add(job.name, envelope, { jobId: String(job.id), attempts: 1, removeOnComplete: true, removeOnFail: false });
      const held = (await dq.getJob(String(job.id)))?.data as DeadEnvelope | undefined;
      if (held && held.finishedAt === envelope.finishedAt && held.attemptsMade === envelope.attemptsMade) break;
      if (tries >= STALE_DEAD_LETTER_TRIES) return false;
      await new Promise((r) => setTimeout(r, STALE_DEAD_LETTER_WAIT_MS));
    }
    await job.remove().catch((err: unknown) => {
      // Someone retried it in between: it is alive again; the dead copy goes.
      if (!/locked|not exist|Missing key/i.test(String(err))) throw err;
    });
    return true;
  }

  /** Moves every job found in the queue's failed set (repairs after a crash). */
  async sweep(queue: string, batch = 100): Promise<number> {
    const source = this.queues.source(queue);
    let moved = 0;
    const seen = new Set<string>();
    for (;;) {
      const failed = await source.getFailed(0, batch - 1);
      const fresh = failed.filter((j) => j && !seen.has(String(j.id)));
      if (fresh.length === 0) return moved;
      for (const j of fresh) {
        seen.add(String(j.id));
        if (await this.bury(queue, String(j.id))) moved++;
      }
    }
  }

  async count(queue: string): Promise<number> {
    return deadCount(this.queues.dead(queue));
  }

  /** Newest first. */
  async list(queue: string, offset = 0, limit = 50): Promise<Page<DeadLetter>> {
    const dq = this.queues.dead(queue);
    const total = await deadCount(dq);
    if (offset >= total) return { jobs: [], total, offset, limit };
    // BullMQ's getWaiting lists oldest first; newest-first paging counts from the end.
    const end = total - 1 - offset;
    const start = Math.max(0, end - limit + 1);
    const jobs = (await dq.getJobs(['waiting', 'prioritized'], start, end, true)).filter(Boolean);
    jobs.sort((a, b) => b.timestamp - a.timestamp);
    return { jobs: jobs.map((j) => toDeadLetter(queue, j)), total, offset, limit };
  }

  async get(queue: string, id: string): Promise<DeadLetter | undefined> {
    const job = await this.queues.dead(queue).getJob(id);
    return job ? toDeadLetter(queue, job) : undefined;
  }

  /** Sends one dead letter back to its queue with its id, name, data and options. */
  async replay(queue: string, id: string): Promise<{ id: string }> {
    const job = await this.queues.dead(queue).getJob(id);
    if (!job) throw new ConveyorError('DEAD_LETTER_NOT_FOUND', `no dead letter "${id}" in queue "${queue}"`, { queue, id });
    const env = isEnvelope(job.data) ? job.data : undefined;
    const opts = toBullOptions({
      jobId: String(job.id),
      attempts: env?.opts.attempts,
      backoff: env?.opts.backoff as never,
      priority: env?.opts.priority,
      timeout: env?.opts.timeout,
      key: env?.opts.key,
    });
    await this.queues.register(queue);
    // A job with this id still in the queue (a replay interrupted after the add) makes this a no-op.
    if (env?.batch?.step !== undefined) {
      // A workflow step waits again for the steps it runs after: the workflow replays it, with the steps it cancelled.
      const { replayStep } = await import('../workflows/replay-step.ts');
      if (await replayStep(this, this.queues, env.batch)) return { id: String(job.id) };
    }
    if (!env?.batch || !(await replayIntoBatch(this.queues, queue, job.name, env.data, opts, env.batch))) {
      await this.queues.source(queue).add(job.name, env ? env.data : job.data, opts);
    }
    await job.remove();
    return { id: String(job.id) };
  }

  /** Replays every dead letter of the queue; returns how many. */
  async replayAll(queue: string, onProgress?: (done: number) => void): Promise<number> {
    return this.forEachDead(queue, (id) => this.replay(queue, id), onProgress);
  }

  async drop(queue: string, id: string): Promise<void> {
    const job = await this.queues.dead(queue).getJob(id);
    if (!job) throw new ConveyorError('DEAD_LETTER_NOT_FOUND', `no dead letter "${id}" in queue "${queue}"`, { queue, id });
    await job.remove();
  }

  async dropAll(queue: string, onProgress?: (done: number) => void): Promise<number> {
    return this.forEachDead(queue, (id) => this.drop(queue, id), onProgress);
  }

  private async forEachDead(queue: string, fn: (id: string) => Promise<unknown>, onProgress?: (done: number) => void): Promise<number> {
    const dq = this.queues.dead(queue);
    const seen = new Set<string>();
    let done = 0;
    for (;;) {
      const page = (await dq.getJobs(['waiting', 'prioritized'], 0, 199, true)).filter((j) => j && !seen.has(String(j.id)));
      if (page.length === 0) return done;
      for (const j of page) {
        seen.add(String(j.id));
        try {
          await fn(String(j.id));
          done++;
        } catch (err) {
          if (!(err instanceof ConveyorError && err.code === 'DEAD_LETTER_NOT_FOUND')) throw err;
        }
      }
      onProgress?.(done);
    }
  }
}

/** How long bury waits for a replay to take out the dead letter of the job's earlier life: 10 × 100 ms. */
const STALE_DEAD_LETTER_TRIES = 10;
const STALE_DEAD_LETTER_WAIT_MS = 100;

function batchLink(queue: string, opts: unknown): { batch?: DeadBatchLink } {
  const b = batchOf(opts);
  const step = (opts as { wfs?: unknown } | undefined)?.wfs;
  return b ? { batch: { id: b.id, home: b.home ?? queue, ...(typeof step === 'string' ? { step } : {}) } } : {};
}

async function deadCount(dq: Queue): Promise<number> {
  const c = await dq.getJobCounts('waiting', 'prioritized');
  return (c.waiting ?? 0) + (c.prioritized ?? 0);
}
