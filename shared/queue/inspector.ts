/**
 * Read and repair: queues with counts, one job, jobs by state, pause/resume.
 * The API, the board and the CLI all call this; none of them touch Redis.
 */
import type { Job, JobType } from 'bullmq';
import { ConveyorError } from '../errors.ts';
import { keys, RESERVED_JOB_IDS } from './names.ts';
import { toPublicOptions, type PublicJobOptions } from './job-input.ts';
import { DeadLetters, iso, toDeadLetter, type Page } from './dead-letter.ts';
import type { QueueSet } from './queue-set.ts';
import { assertQueueName } from './producer.ts';

import { JOB_STATES, type JobState } from './job-state.ts';
import type { FlowGate } from '../flow/gate.ts';
import type { HeldBy } from '../flow/limits.ts';

export { JOB_STATES, type JobState };

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
  dead: number;
  paused: number;
  /** Jobs the flow gate holds back (per-key limits; also counted in waiting). */
  held: number;
}

export interface QueueSummary {
  name: string;
  paused: boolean;
  counts: QueueCounts;
}

export interface JobView {
  id: string;
  queue: string;
  name: string;
  state: JobState;
  data: unknown;
  opts: PublicJobOptions;
  attemptsMade: number;
  returnValue: unknown;
  failedReason: string | null;
  /** Dead letters only. */
  stacktrace?: string[];
  createdAt: string | null;
  processedAt: string | null;
  finishedAt: string | null;
  /** Dead letters only: when it became one. */
  deadAt?: string | null;
  /** A waiting job a limit is holding back: which one. */
  heldBy?: HeldBy;
  /** "history": Redis no longer holds the job (trimmed after it finished); this is the job history's record of it (HISTORY_URL). */
  source?: 'history';
}

/** BullMQ state names for one Conveyor state. */
const BULL_TYPES: Record<Exclude<JobState, 'dead'>, JobType[]> = {
  waiting: ['waiting', 'prioritized', 'waiting-children'],
  active: ['active'],
  delayed: ['delayed'],
  completed: ['completed'],
  failed: ['failed'],
};

function toState(bullState: string): JobState {
  switch (bullState) {
    case 'active':
    case 'delayed':
    case 'completed':
    case 'failed':
      return bullState;
    default:
      return 'waiting';
  }
}

export function toJobView(queue: string, job: Job, state: JobState): JobView {
  return {
    id: String(job.id),
    queue,
    name: job.name,
    state,
    data: job.data,
    opts: toPublicOptions(job.opts as Record<string, unknown>),
    attemptsMade: job.attemptsMade,
    returnValue: job.returnvalue ?? null,
    failedReason: job.failedReason || null,
    createdAt: iso(job.timestamp),
    processedAt: iso(job.processedOn),
    finishedAt: iso(job.finishedOn),
  };
}

export class Inspector {
  private readonly queues: QueueSet;
  readonly deadLetters: DeadLetters;

  private readonly gate: FlowGate | undefined;

  constructor(queues: QueueSet, gate?: FlowGate) {
    this.queues = queues;
    this.gate = gate;
    this.deadLetters = new DeadLetters(queues);
  }

  /** Names of every known queue, sorted. */
  async queueNames(): Promise<string[]> {
    const names = await this.queues.connection.smembers(keys.queueRegistry);
    return names.sort();
  }

  async exists(queue: string): Promise<boolean> {
    return (await this.queues.connection.sismember(keys.queueRegistry, queue)) === 1;
  }

  async requireQueue(queue: string): Promise<void> {
    assertQueueName(queue);
    if (!(await this.exists(queue))) throw new ConveyorError('QUEUE_NOT_FOUND', `no queue named "${queue}"`, { queue });
  }

  async summary(queue: string): Promise<QueueSummary> {
    const q = this.queues.source(queue);
    const [c, paused, dead, held] = await Promise.all([
      q.getJobCounts('waiting', 'prioritized', 'waiting-children', 'active', 'delayed', 'completed', 'failed'),
      q.isPaused(),
      this.deadLetters.count(queue),
      this.gate ? this.gate.heldCount(queue) : 0,
    ]);
    const waiting = (c.waiting ?? 0) + (c.prioritized ?? 0) + (c['waiting-children'] ?? 0) + held;
    return {
      name: queue,
      paused,
      counts: {
        waiting,
        active: c.active ?? 0,
        delayed: c.delayed ?? 0,
        completed: c.completed ?? 0,
        failed: c.failed ?? 0,
        dead,
        // Jobs held back by a pause (BullMQ keeps them in the wait list).
        paused: paused ? waiting : 0,
        held,
      },
    };
  }

  /** A queue-wide limit holding its waiting jobs now: its rate window is used up, or its concurrency is. */
  private async queueLimitHolding(queue: string): Promise<HeldBy | undefined> {
    const q = this.queues.source(queue);
    const [ttl, concurrency] = await Promise.all([q.getRateLimitTtl(), q.getGlobalConcurrency()]);
    if (ttl > 0) return 'rate';
    if (concurrency !== null && (await q.getActiveCount()) >= Number(concurrency)) return 'concurrency';
    return undefined;
  }

  async listQueues(): Promise<QueueSummary[]> {
    const names = await this.queueNames();
    return Promise.all(names.map((n) => this.summary(n)));
  }

  /** One job, wherever it is: its queue, or its dead letters. */
  async getJob(queue: string, id: string): Promise<JobView | undefined> {
    assertQueueName(queue);
    const source = this.queues.source(queue);
    // State first, then the hash: a job that is completed stays completed, so
    // its hash already holds the result. (Hash first could pair an active
    // job's hash, without its return value, with a later "completed".)
    const state = await source.getJobState(id);
    if (state !== 'unknown') {
      const job = await source.getJob(id);
      if (job) {
        const view = toJobView(queue, job, toState(state));
        if (view.state === 'waiting') {
          const heldBy = await this.queueLimitHolding(queue);
          if (heldBy) view.heldBy = heldBy;
        }
        return view;
      }
    } else if (this.gate) {
      // In no BullMQ list: held by the flow gate (or mid-removal).
      const job = await source.getJob(id);
      if (job) {
        const key = (job.opts as { key?: string }).key;
        const g = await this.gate.jobState(queue, id, key);
        if (g.held) {
          const view = toJobView(queue, job, 'waiting');
          if (g.keyState === 'c') view.heldBy = 'key-concurrency';
          else if (g.keyState === 's') view.heldBy = 'key-rate';
          else view.heldBy = (await this.queueLimitHolding(queue)) ?? 'key-concurrency';
          return view;
        }
      }
    }
    const dead = await this.queues.dead(queue).getJob(id);
    if (dead) {
      const d = toDeadLetter(queue, dead);
      return { ...d, failedReason: d.failedReason || null };
    }
    return undefined;
  }

  async listJobs(queue: string, state: JobState, offset = 0, limit = 50): Promise<Page<JobView>> {
    assertQueueName(queue);
    if (state === 'dead') {
      const page = await this.deadLetters.list(queue, offset, limit);
      return { ...page, jobs: page.jobs.map((d) => ({ ...d, failedReason: d.failedReason || null })) };
    }
    const q = this.queues.source(queue);
    const types = BULL_TYPES[state];
    const counts = await q.getJobCounts(...types);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const jobs = offset < total ? (await q.getJobs(types, offset, offset + limit - 1, false)).filter(Boolean) : [];
    return { jobs: jobs.map((j) => toJobView(queue, j, state)), total, offset, limit };
  }

  async pause(queue: string): Promise<void> {
    await this.requireQueue(queue);
    await this.queues.source(queue).pause();
  }

  async resume(queue: string): Promise<void> {
    await this.requireQueue(queue);
    await this.queues.source(queue).resume();
  }
}

/**
 * Ids that name one of a queue's own keys rather than a job: BullMQ's key
 * names, a job's sub-keys (":lock", ":logs"...) and scheduler hashes. Looking
 * one up as a job would read (or, on removal, delete) the queue's own
 * structures: callers that take ids from outside treat them as "no such job".
 */
export function isReservedJobId(id: string): boolean {
  return RESERVED_JOB_IDS.has(id) || /:(lock|logs|dependencies|processed|failed|unsuccessful)$/.test(id) || /^(repeat|de|metrics):[^:]*$/.test(id);
}
