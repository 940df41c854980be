/**
 * Conveyor: the object an app holds. Connect once (options or the
 * environment), enqueue typed or plain jobs, read and repair queues, dead
 * letters, schedules and the fleet, close. The server, workers, dashboard and
 * CLI are built on the same object (coreOf gives them the parts behind it).
 *
 *   const conveyor = await Conveyor.connect({ redisUrl: 'redis://localhost:6379' });
 *   const job = await conveyor.enqueue(sendWelcome, { userId: 42 });
 *   const result = await conveyor.waitFor(job, { timeoutMs: 10_000 });
 *   await conveyor.close();
 *
 * Importing this module loads neither BullMQ nor ioredis: connecting does
 * (./core.ts), so a module that only defines jobs stays light.
 */
import { hostname } from 'node:os';
import { ConveyorError } from './errors.ts';
import type { Config } from './config/config.ts';
import { loadConfig } from './config/config.ts';
import { configFromOptions, OPTION_VARIABLES, type ConfigOptions } from './config/options.ts';
import type { Logger } from './log.ts';
import type { Core } from './core.ts';
import type { AnyJobDefinition, DataOf, JobOptions, ResultOf } from './jobs/define-job.ts';
import type { JobView, QueueSummary } from './queue/inspector.ts';
import { JOB_STATES, type JobState } from './queue/job-state.ts';
import { isValidQueueName, NO_KEY, NO_KEY_LABEL } from './queue/names.ts';
import type { LimitsStore, LimitsView } from './flow/queue-limits.ts';
import type { QueueLimits } from './flow/limits.ts';
import type { GateStatus, KeyBacklog } from './flow/gate.ts';
import type { DeadLetter, Page } from './queue/dead-letter.ts';
import type { PutResult, ScheduleView } from './queue/schedules.ts';
import type { WorkerBeat } from './queue/fleet.ts';
import type { DeadLetterActionOptions, DeadLetterReport, DeadLetterSelection } from './queue/dead-letter-actions.ts';
import type { BatchAdded, BatchCreated, BatchSpec, BatchView, CheckedBatchJobs } from './batches/types.ts';
import type { CheckedSteps, WorkflowCreated, WorkflowSpec, WorkflowView } from './workflows/types.ts';
import type { HistoryGap, HistoryPage, HistorySearch, HistoryTimeline } from './history/store.ts';

/** What connect() and fromEnv() take beside the settings. */
export interface ConnectExtras {
  /** The jobs this process knows: enqueue by name validates against them and applies their defaults; the API documents them. */
  jobs?: readonly AnyJobDefinition[];
  /** A pino logger (default: pino at logLevel, "warn" when connecting from options). */
  logger?: Logger;
  /** The connection's name in Redis CLIENT LIST and the process's in traces (default "conveyor"). */
  name?: string;
}

export interface ConveyorOptions extends ConfigOptions, ConnectExtras {}

/** One job as enqueue answers: enough to find it again (getJob, waitFor). */
export interface EnqueuedJob<Result = unknown> {
  id: string;
  queue: string;
  name: string;
  /** True when a job with the same jobId already existed: nothing was added. */
  duplicate: boolean;
  /** opts.throttle: another job with the same throttle id holds the window; `id` is that job's, nothing was added. */
  throttled?: true;
  /** Types only (never set): the job's result type, for waitFor. */
  readonly result?: Result;
}

export interface JobInput<Data = unknown> {
  name: string;
  data?: Data;
  opts?: JobOptions;
}

export interface ListJobsOptions {
  state: JobState;
  offset?: number;
  limit?: number;
}

export interface WaitOptions {
  /** How long to wait (default 30 000 ms); past it WAIT_TIMEOUT (the job goes on). */
  timeoutMs?: number;
}

/** enqueue(job, data, opts?) for a definition; enqueue(queue, { name, data?, opts? }) for a queue name. */
export type EnqueueArgs<T> = T extends string ? [job: JobInput] : [data: DataOf<T>, opts?: JobOptions];
/** enqueueBulk(job, [data, …], opts?) for a definition; enqueueBulk(queue, [{ name, data?, opts? }, …]) for a queue name. */
export type EnqueueBulkArgs<T> = T extends string ? [jobs: readonly JobInput[]] : [data: readonly DataOf<T>[], opts?: JobOptions];

type Env = Readonly<Record<string, string | undefined>>;

const EXTRA_KEYS: ReadonlySet<string> = new Set(['jobs', 'logger', 'name']);
const cores = new WeakMap<Conveyor, Core>();

/** The parts behind a Conveyor: for Conveyor's own server, workers, dashboard and CLI (not exported to apps). */
export function coreOf(conveyor: Conveyor): Core {
  const core = cores.get(conveyor);
  if (!core) throw new ConveyorError('INVALID_REQUEST', 'not a connected Conveyor (use Conveyor.connect or Conveyor.fromEnv)');
  return core;
}

/** A Conveyor from a Config already loaded (Conveyor's own tests and tools; apps use connect / fromEnv). */
/** The definition's key function gives opts.key unless the enqueue chose one (a throw or a non-string is INVALID_REQUEST). */
function withKey(job: AnyJobDefinition, data: unknown, opts: JobOptions | undefined): JobOptions | undefined {
  if (!job.key || opts?.key !== undefined) return opts;
  let key: unknown;
  try {
    key = job.key(data);
  } catch (err) {
    throw new ConveyorError('INVALID_REQUEST', `opts.key: the key function of job "${job.name}" threw: ${(err as Error)?.message ?? String(err)}`, { path: 'opts.key' });
  }
  return { ...opts, key: key as string };
}

/** A queue's limits with what they hold back now. */
export interface LimitsStatus extends LimitsView {
  /** Jobs the per-key gate holds, and jobs holding a key's slot (admitted, not finished). */
  held: number;
  admitted: number;
  /** How often a key was found at its limit when its turn came. */
  hits: GateStatus['hits'];
  /** The keys with the largest backlogs ("(no key)" for jobs without one). */
  keys: { key: string; held: number; running: number; waitingOn: KeyBacklog['waitingOn'] }[];
}

export function limitsStatus(core: Core, queue: string, top = 10): Promise<LimitsStatus> {
  return limitsStatusOf(core.limits, queue, top);
}

export async function limitsStatusOf(store: LimitsStore, queue: string, top = 10): Promise<LimitsStatus> {
  const [view, g] = await Promise.all([store.get(queue), store.gate.status(queue, top)]);
  return { ...view, held: g.held, admitted: g.admitted, hits: g.hits, keys: g.keys.map((k) => ({ ...k, key: k.key === NO_KEY ? NO_KEY_LABEL : k.key })) };
}

export async function openConveyor(config: Readonly<Config>, extras: ConnectExtras = {}, defaultLevel = 'info'): Promise<Conveyor> {
  const jobs = extras.jobs ?? [];
  if (!Array.isArray(jobs)) throw new ConveyorError('INVALID_JOB_DEFINITION', 'jobs must be an array of job definitions (defineJob)');
  const [{ Core }, { createLogger }, { handlerSchemaSources }] = await Promise.all([import('./core.ts'), import('./log.ts'), import('./queue/payload-schemas.ts')]);
  const logger = extras.logger ?? createLogger('conveyor', config.logLevel === 'info' ? defaultLevel : config.logLevel);
  const sources = [...jobs.map((definition) => ({ definition, from: 'the jobs given to Conveyor' })), ...(await handlerSchemaSources(config.handlersPath))];
  const name = extras.name ?? 'conveyor';
  // Traces name the process by it too: "conveyor-server" → "server".
  const core = await Core.open(config, { logger, name, jobs: sources, tracing: name.replace(/^conveyor-/, '') });
  const conveyor = new (Conveyor as unknown as new () => Conveyor)();
  cores.set(conveyor, core);
  return conveyor;
}

export class Conveyor {
  /**
   * Connects with options named after the environment variables
   * (redisUrl ↔ REDIS_URL, …; the same defaults and validation). Resolves
   * once Redis answers; a bad URL, a wrong password or nothing listening is
   * a clear error within 10 s, never a hang.
   */
  static async connect(options: ConveyorOptions = {}): Promise<Conveyor> {
    const config = configFromOptions(options as ConfigOptions & Record<string, unknown>, EXTRA_KEYS);
    const level = options.logLevel ?? 'warn';
    return openConveyor(config, options, level);
  }

  /** Connects with the configuration of the environment (README "Configuration"), like the platform's processes. */
  static async fromEnv(env: Env = process.env, extras: ConnectExtras = {}): Promise<Conveyor> {
    return openConveyor(loadConfig(env), extras, 'info');
  }

  /** The option names and the variables they stand for. */
  static readonly optionVariables: Readonly<Record<keyof ConfigOptions, string>> = OPTION_VARIABLES;

  private constructor() {}

  private get core(): Core {
    return coreOf(this);
  }

  /** Enqueues a typed job (its queue, schema and defaults), or a plain one on a queue. Invalid input writes nothing. */
  // One signature, not overloads: a wrong payload's compile error then names the field.
  enqueue<T extends AnyJobDefinition | string>(target: T, ...args: EnqueueArgs<T>): Promise<EnqueuedJob<T extends string ? unknown : ResultOf<T>>>;
  async enqueue(target: AnyJobDefinition | string, data?: unknown, opts?: JobOptions): Promise<EnqueuedJob> {
    const core = this.core;
    if (typeof target === 'string') return core.producer.enqueue(target, data);
    const inc = core.include(target, 'enqueue');
    if (inc) await inc;
    const o = withKey(target, data, opts);
    return core.producer.enqueue(target.queue, { name: target.name, data, ...(o !== undefined ? { opts: o } : {}) });
  }

  /**
   * Enqueues many jobs on one queue atomically (all or none; at most BULK_MAX):
   * a typed job with a list of data, or plain jobs on a queue.
   */
  enqueueBulk<T extends AnyJobDefinition | string>(target: T, ...args: EnqueueBulkArgs<T>): Promise<{ ids: string[] }>;
  async enqueueBulk(target: AnyJobDefinition | string, items: readonly unknown[], opts?: JobOptions): Promise<{ ids: string[] }> {
    const core = this.core;
    if (typeof target === 'string') return core.producer.enqueueBulk(target, items);
    const inc = core.include(target, 'enqueueBulk');
    if (inc) await inc;
    if (!Array.isArray(items)) throw new ConveyorError('INVALID_REQUEST', 'data: expected an array (one entry per job)');
    return core.producer.enqueueBulk(target.queue, items.map((data) => {
      const o = withKey(target, data, opts);
      return { name: target.name, data, ...(o !== undefined ? { opts: o } : {}) };
    }));
  }

  /**
   * One job wherever it is (its queue or its dead letters); with HISTORY_URL,
   * a finished job Redis has trimmed comes from the history (`source: "history"`,
   * returnValue null); undefined when there is none.
   */
  async getJob(queue: string, id: string): Promise<JobView | undefined> {
    return (await this.core.inspector.getJob(queue, id)) ?? this.core.historyJob(queue, id);
  }

  /** Jobs of a queue in one state, paged (offset 0, limit 50 by default; at most 500). */
  async listJobs(queue: string, { state, offset = 0, limit = 50 }: ListJobsOptions): Promise<Page<JobView>> {
    if (!JOB_STATES.includes(state)) throw new ConveyorError('INVALID_REQUEST', `state must be one of ${JOB_STATES.join(', ')}`);
    if (!Number.isInteger(offset) || offset < 0) throw new ConveyorError('INVALID_REQUEST', 'offset must be a whole number ≥ 0');
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new ConveyorError('INVALID_REQUEST', 'limit must be a whole number from 1 to 500');
    return this.core.inspector.listJobs(queue, state, offset, limit);
  }

  /**
   * The job's result once it completes. A job that fails for good rejects
   * with JOB_FAILED (details.failureCode: JOB_TIMEOUT, PAYLOAD_INVALID …);
   * past timeoutMs, WAIT_TIMEOUT (the job goes on); no such job, JOB_NOT_FOUND.
   */
  waitFor<R>(job: Pick<EnqueuedJob<R>, 'id' | 'queue'> & { readonly result?: R }, opts?: WaitOptions): Promise<R>;
  waitFor(queue: string, id: string, opts?: WaitOptions): Promise<unknown>;
  async waitFor(a: string | { id: string; queue: string }, b?: string | WaitOptions, c?: WaitOptions): Promise<unknown> {
    const [queue, id, opts] = typeof a === 'string' ? [a, b as string, c] : [a?.queue, a?.id, b as WaitOptions | undefined];
    if (typeof queue !== 'string' || typeof id !== 'string') throw new ConveyorError('INVALID_REQUEST', 'waitFor takes an enqueued job ({ id, queue }) or a queue name and a job id');
    const timeoutMs = opts?.timeoutMs ?? 30_000;
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) throw new ConveyorError('INVALID_REQUEST', 'timeoutMs must be a positive number of milliseconds');
    if (!isValidQueueName(queue)) throw new ConveyorError('INVALID_QUEUE_NAME', `queue name ${JSON.stringify(queue)} is invalid: use 1-64 characters of A-Z a-z 0-9 . _ -`);
    return this.core.jobWaiter.waitFor(queue, id, timeoutMs);
  }

  /** Queues: counts, pause, resume. */
  readonly queues = {
    /** Every queue with its counts (waiting, active, delayed, completed, failed, dead, paused). */
    list: (): Promise<QueueSummary[]> => this.core.inspector.listQueues(),
    /** One queue with its counts; QUEUE_NOT_FOUND when no producer or worker has used it. */
    get: async (queue: string): Promise<QueueSummary> => {
      await this.core.inspector.requireQueue(queue);
      return this.core.inspector.summary(queue);
    },
    /** Workers take no new jobs from it (producers can still enqueue). */
    pause: (queue: string): Promise<void> => this.core.inspector.pause(queue),
    resume: (queue: string): Promise<void> => this.core.inspector.resume(queue),
    /** The queue's flow limits and what they hold back (the largest key backlogs first). */
    limits: (queue: string): Promise<LimitsStatus> => limitsStatus(this.core, queue),
    /**
     * Replaces the queue's limits, fleet-wide: `{ concurrency?, rate?: { max, perMs }, perKey?: { concurrency?, rate?, overrides? } }`.
     * Running workers apply them within a second. Bad input is INVALID_REQUEST naming the field; nothing changes.
     */
    setLimits: async (queue: string, limits: QueueLimits): Promise<LimitsStatus> => {
      await this.core.limits.set(queue, limits);
      return limitsStatus(this.core, queue);
    },
    /** Removes every limit of the queue; jobs the gate held go on, round-robin. */
    clearLimits: async (queue: string): Promise<LimitsStatus> => {
      await this.core.limits.clear(queue);
      return limitsStatus(this.core, queue);
    },
  };

  /** Dead letters: jobs that used up their attempts. */
  readonly deadLetters = {
    /** Newest first, paged; `match` keeps those whose error contains the text (case-insensitive). */
    list: async (queue: string, { offset = 0, limit = 50, match }: { offset?: number; limit?: number; match?: string } = {}): Promise<Page<DeadLetter>> => {
      const core = this.core;
      await core.inspector.requireQueue(queue);
      if (match === undefined) return core.deadLetters.list(queue, offset, limit);
      const { selectDeadLetters } = await import('./queue/dead-letter-selection.ts');
      const { selected } = await selectDeadLetters(core.deadLetters, queue, { match });
      const ids = selected.slice(offset, offset + limit).map((s) => s.id);
      const jobs = (await Promise.all(ids.map((i) => core.deadLetters.get(queue, i)))).filter((d): d is DeadLetter => d !== undefined);
      return { jobs, total: selected.length, offset, limit };
    },
    get: (queue: string, id: string): Promise<DeadLetter | undefined> => this.core.deadLetters.get(queue, id),
    /** Sends dead letters back to their queue with the same id, name, data and options. */
    replay: (queue: string, selection: DeadLetterSelection, opts?: DeadLetterActionOptions): Promise<DeadLetterReport> => this.deadLetterAction(queue, 'replay', selection, opts),
    /** Deletes dead letters for good. */
    drop: (queue: string, selection: DeadLetterSelection, opts?: DeadLetterActionOptions): Promise<DeadLetterReport> => this.deadLetterAction(queue, 'drop', selection, opts),
  };

  private async deadLetterAction(queue: string, action: 'replay' | 'drop', selection: DeadLetterSelection, opts?: DeadLetterActionOptions): Promise<DeadLetterReport> {
    const core = this.core;
    const { actOnDeadLetters, parseSelection } = await import('./queue/dead-letter-actions.ts');
    parseSelection(selection); // bad input is an error before any lookup
    await core.inspector.requireQueue(queue);
    return actOnDeadLetters(core.deadLetters, queue, action, selection, opts);
  }

  /** Cron schedules (BullMQ job schedulers). */
  readonly schedules = {
    /** Creates (created: true) or replaces a schedule: { queue, name, cron, tz?, data?, opts? }. A bad cron is INVALID_CRON. */
    put: (id: string, schedule: { queue: string; name: string; cron: string; tz?: string; data?: unknown; opts?: JobOptions }): Promise<PutResult> => this.core.schedules.put(id, schedule),
    get: (id: string): Promise<ScheduleView> => this.core.schedules.get(id),
    list: (filter?: { queue?: string }): Promise<ScheduleView[]> => this.core.schedules.list(filter),
    remove: (id: string): Promise<void> => this.core.schedules.remove(id),
    pause: (id: string): Promise<ScheduleView> => this.core.schedules.pause(id),
    resume: (id: string): Promise<ScheduleView> => this.core.schedules.resume(id),
    /** Enqueues one job now with the schedule's name, data and options. */
    run: (id: string): Promise<EnqueuedJob> => this.core.schedules.runNow(id),
  };

  /**
   * Job history (HISTORY_URL: PostgreSQL, kept by the server's archiver);
   * HISTORY_NOT_CONFIGURED without it, HISTORY_UNAVAILABLE when the database does not answer.
   */
  readonly history = {
    /** Jobs newest first by enqueue time, cursor-paged: { queue, name, state, key, since, until, q, data: { 'user.id': 42 }, limit, cursor }. */
    search: async (search: HistorySearch = {}): Promise<HistoryPage> => (await this.core.historyStore()).search(search),
    /** Every event and attempt of one job (worker, start, end, outcome, error); undefined when history has none. */
    timeline: async (queue: string, id: string): Promise<HistoryTimeline | undefined> => {
      if (!isValidQueueName(queue)) throw new ConveyorError('INVALID_QUEUE_NAME', `queue name ${JSON.stringify(queue)} is invalid: use 1-64 characters of A-Z a-z 0-9 . _ -`);
      if (typeof id !== 'string' || id === '') throw new ConveyorError('INVALID_JOB_ID', 'a job id is a non-empty string');
      return (await this.core.historyStore()).timeline(queue, id);
    },
    /** Where history misses events (Redis trimmed them before the archiver read them), newest first. */
    gaps: async (limit = 20): Promise<HistoryGap[]> => (await this.core.historyStore()).gaps(limit),
  };

  /**
   * Batches: groups of jobs with callbacks (onSuccess, onComplete, onDeath)
   * and progress, on BullMQ flows. Jobs are typed `{ job: definition, data, opts? }`
   * or plain `{ queue?, name, data?, opts? }`; callbacks are ordinary jobs (a
   * definition, or `{ queue?, name, opts? }`) that get BatchCallbackData.
   * Everything is checked first; nothing is created when anything is invalid.
   */
  readonly batches = {
    /** Creates a batch with up to 10,000 jobs atomically (more: `open: true`, then add() and seal()). */
    create: async <E extends readonly unknown[]>(spec: Omit<BatchSpec, 'jobs'> & { jobs: E & CheckedBatchJobs<E> }): Promise<BatchCreated> => {
      const { plainSpec } = await import('./batches/library.ts');
      return this.core.batches.create(await plainSpec(this.core, spec));
    },
    /** Adds up to 10,000 jobs to an open batch; BATCH_SEALED (nothing added) once it is sealed. */
    add: async <E extends readonly unknown[]>(id: string, jobs: E & CheckedBatchJobs<E>): Promise<BatchAdded> => {
      const { plainJobs } = await import('./batches/library.ts');
      return this.core.batches.add(id, await plainJobs(this.core, jobs));
    },
    /** Seals an open batch (idempotent): its callbacks may fire from now on. */
    seal: (id: string): Promise<BatchView> => this.core.batches.seal(id),
    /** Counts (total, pending, failed, succeeded, dead), progress, state, callbacks, the first dead jobs; BATCH_NOT_FOUND. */
    get: (id: string): Promise<BatchView> => this.core.batches.get(id),
  };

  /**
   * Workflows: a graph of steps (each a job, typed or plain) with the steps it
   * runs `after`, on BullMQ flows; a step reads its dependencies' results with
   * stepResults(ctx). A failed step cancels the steps after it, unless it is
   * `optional`. A cycle, an unknown or a missing step is WORKFLOW_INVALID naming
   * the step; nothing is created. A workflow is a batch: its callbacks and
   * counts are a batch's (batches.get works on it too).
   */
  readonly workflows = {
    create: async <S extends Record<string, unknown>>(spec: Omit<WorkflowSpec, 'steps'> & { steps: S & CheckedSteps<S> }): Promise<WorkflowCreated> => {
      const { plainWorkflow } = await import('./batches/library.ts');
      return this.core.workflows.create(await plainWorkflow(this.core, spec));
    },
    /** The workflow: counts, callbacks, and each step's state (blocked, pending, retrying, succeeded, dead, cancelled). */
    get: (id: string): Promise<WorkflowView> => this.core.workflows.get(id),
    /** Runs a dead or cancelled step again, with every step after it that failed or was cancelled; resolves with the steps replayed. */
    replay: (id: string, step: string): Promise<string[]> => this.core.workflows.replay(id, step, this.core.deadLetters),
  };

  /** Worker processes, from their heartbeats. */
  readonly fleet = {
    /** Live workers: host, pid, queues, busy/concurrency, counts, memory, lag, state. */
    list: (): Promise<WorkerBeat[]> => this.core.fleet.list(),
    /** Take no new jobs, finish the running ones ("all" = every live worker). Resolves with the ids addressed. */
    quiet: (target: string): Promise<string[]> => this.fleetCommand('quiet', target),
    /** Stop gracefully, as SIGTERM does. */
    stop: (target: string): Promise<string[]> => this.fleetCommand('stop', target),
  };

  private fleetCommand(command: 'quiet' | 'stop', target: string): Promise<string[]> {
    if (typeof target !== 'string' || target === '') throw new ConveyorError('INVALID_REQUEST', 'give a worker id or "all"');
    return this.core.fleet.command(command, target, `library@${hostname()}:${process.pid}`);
  }

  /** Closes the connections; idempotent. Running enqueues finish first. */
  close(): Promise<void> {
    const core = cores.get(this);
    return core ? core.close() : Promise.resolve();
  }
}
