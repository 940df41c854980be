/**
 * Cron schedules on BullMQ 6 job schedulers. A schedule lives in its queue's
 * BullMQ queue (same hash slot as its jobs); its definition and state live in
 * the schedule index (schedule-store.ts). Pause removes the BullMQ scheduler
 * and keeps the definition; resume upserts it again. The API, the board, the
 * SCHEDULES file and repair all go through this class.
 */
import type { JobSchedulerJson } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConveyorError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { keys } from './names.ts';
import { toBullOptions } from './job-input.ts';
import type { EnqueueResult, Producer } from './producer.ts';
import type { QueueSet } from './queue-set.ts';
import { nextRuns, previousRun } from './cron.ts';
import { assertScheduleId, parseScheduleInput, type ScheduleDefinition, type ScheduleOptions } from './schedule-input.ts';
import { ScheduleStore, type ManagedBy, type StoredSchedule } from './schedule-store.ts';

export type { ManagedBy };

export interface ScheduleView {
  id: string;
  queue: string;
  name: string;
  cron: string;
  tz: string;
  data: unknown;
  opts: ScheduleOptions;
  paused: boolean;
  /** The next 5 run times (ISO 8601, UTC); empty while paused. */
  nextRuns: string[];
  /** When the latest scheduled run started, when that job is still kept. */
  lastRunAt?: string;
  createdAt: string;
  updatedAt: string;
  managedBy: ManagedBy;
}

export interface PutResult {
  schedule: ScheduleView;
  created: boolean;
}

export interface SchedulesOptions {
  maxPayloadBytes?: number;
  logger?: Logger;
}

/** BullMQ's error code when a scheduler's next job id is taken by an active or finished job (clock skew). */
const SCHEDULER_JOB_ID_COLLISION = -10;

const iso = (ms: number) => new Date(ms).toISOString();
const sameDefinition = (a: ScheduleDefinition, b: ScheduleDefinition) =>
  a.queue === b.queue && a.name === b.name && a.cron === b.cron && a.tz === b.tz && JSON.stringify(a.data) === JSON.stringify(b.data) && JSON.stringify(a.opts) === JSON.stringify(b.opts);

/** The BullMQ job id of a scheduler's run at `millis` (BullMQ's own naming). */
export const scheduledJobId = (id: string, millis: number) => `repeat:${id}:${millis}`;

export class Schedules {
  readonly store: ScheduleStore;
  readonly queues: QueueSet;
  private readonly producer: Producer;
  private readonly maxPayloadBytes: number;
  private readonly log: Logger;

  constructor(queues: QueueSet, producer: Producer, opts: SchedulesOptions = {}) {
    this.queues = queues;
    this.producer = producer;
    this.store = new ScheduleStore(queues.connection);
    this.maxPayloadBytes = opts.maxPayloadBytes ?? 524_288;
    this.log = opts.logger ?? silentLogger;
  }

  /**
   * Creates or replaces a schedule. Everything is validated before any write.
   * A replace keeps createdAt and the paused state; moving to another queue
   * removes the scheduler from the old one. An identical definition whose
   * scheduler is healthy is left alone, so re-applying the SCHEDULES file at
   * every start does not disturb the next run.
   */
  async put(id: string, raw: unknown, { managedBy = 'api' }: { managedBy?: ManagedBy } = {}): Promise<PutResult> {
    assertScheduleId(id);
    const def = parseScheduleInput(raw, this.maxPayloadBytes);
    return (await this.store.withLock(id, async () => {
      const old = await this.store.read(id);
      if (old) this.assertWritable(id, old, managedBy);
      const unchanged = old !== undefined && sameDefinition(old, def);
      const now = Date.now();
      const next: StoredSchedule = {
        ...def,
        paused: old?.paused ?? false,
        managedBy,
        createdAt: old?.createdAt ?? now,
        updatedAt: unchanged ? old.updatedAt : now,
      };
      await this.queues.register(def.queue);
      await this.store.write(id, next);
      if (old && old.queue !== def.queue) await this.queues.source(old.queue).removeJobScheduler(id);
      if (!next.paused && !(unchanged && (await this.diagnose(id, next)) === undefined)) await this.upsertScheduler(id, next);
      return { schedule: await this.view(id, next), created: !old };
    }))!;
  }

  async get(id: string): Promise<ScheduleView> {
    return this.view(id, await this.require(id));
  }

  /** Every schedule, by id; `queue` narrows to one queue. */
  async list({ queue }: { queue?: string } = {}): Promise<ScheduleView[]> {
    const all = [...(await this.store.readAll())].filter(([, s]) => queue === undefined || s.queue === queue);
    return Promise.all(all.map(([id, s]) => this.view(id, s)));
  }

  async remove(id: string, { managedBy = 'api' }: { managedBy?: ManagedBy } = {}): Promise<void> {
    assertScheduleId(id);
    await this.store.withLock(id, async () => {
      const old = await this.require(id);
      this.assertWritable(id, old, managedBy);
      await this.store.delete(id);
      await this.queues.source(old.queue).removeJobScheduler(id);
    });
  }

  /** Stops producing jobs (idempotent). Jobs already enqueued are not touched. */
  async pause(id: string): Promise<ScheduleView> {
    return this.setPaused(id, true);
  }

  /** Starts producing again from the next cron time (idempotent). */
  async resume(id: string): Promise<ScheduleView> {
    return this.setPaused(id, false);
  }

  /** Enqueues one job now with the schedule's name, data and options (also while paused). */
  async runNow(id: string): Promise<EnqueueResult> {
    const s = await this.require(id);
    return this.producer.enqueue(s.queue, { name: s.name, data: s.data, opts: s.opts });
  }

  private async setPaused(id: string, paused: boolean): Promise<ScheduleView> {
    assertScheduleId(id);
    return (await this.store.withLock(id, async () => {
      const s = await this.require(id);
      if (s.paused !== paused) {
        s.paused = paused;
        s.updatedAt = Date.now();
        await this.store.write(id, s);
      }
      if (paused) await this.queues.source(s.queue).removeJobScheduler(id);
      else if ((await this.diagnose(id, s)) !== undefined) await this.upsertScheduler(id, s);
      return this.view(id, s);
    }))!;
  }

  private async require(id: string): Promise<StoredSchedule> {
    assertScheduleId(id);
    const s = await this.store.read(id);
    if (!s) throw new ConveyorError('SCHEDULE_NOT_FOUND', `no schedule with id "${id}"`, { id });
    return s;
  }

  private assertWritable(id: string, s: StoredSchedule, by: ManagedBy): void {
    if (s.managedBy === 'config' && by !== 'config') {
      throw new ConveyorError(
        'SCHEDULE_MANAGED_BY_CONFIG',
        `schedule "${id}" comes from the SCHEDULES file; change or remove it in that file (it is applied when the server or a worker starts). Pause, resume and run work through the API`,
        { id },
      );
    }
  }

  /** Creates or updates the BullMQ scheduler from a stored definition (one atomic script in the queue's slot). */
  async upsertScheduler(id: string, s: StoredSchedule): Promise<void> {
    await this.queues.register(s.queue);
    const { jobId: _ours, ...template } = toBullOptions(s.opts); // each run gets BullMQ's repeat:<id>:<millis>
    const upsert = () => this.queues.source(s.queue).upsertJobScheduler(id, { pattern: s.cron, tz: s.tz }, { name: s.name, data: s.data, opts: template });
    try {
      await upsert();
    } catch (err) {
      if ((err as { code?: unknown }).code !== SCHEDULER_JOB_ID_COLLISION) throw err;
      // Another host's clock is behind ours and this run already exists; the next second's computation is clear of it.
      this.log.warn({ schedule: id, queue: s.queue }, 'scheduler run id taken (clock skew between hosts?); retrying in 1 s');
      await sleep(1000);
      await upsert();
    }
  }

  /** The BullMQ scheduler of a schedule, if any. */
  scheduler(id: string, queue: string): Promise<JobSchedulerJson | undefined> {
    return this.queues.source(queue).getJobScheduler(id);
  }

  /**
   * What is wrong with a schedule's BullMQ side, or undefined when it is in
   * line with the definition: a paused schedule has no scheduler; an active
   * one has a scheduler with the same cron, zone and job name whose next job exists.
   */
  async diagnose(id: string, s: StoredSchedule): Promise<string | undefined> {
    const sch = await this.scheduler(id, s.queue);
    if (s.paused) return sch ? 'paused but its scheduler is still there' : undefined;
    if (!sch) return 'scheduler missing';
    if (sch.pattern !== s.cron || (sch.tz ?? 'UTC') !== s.tz || sch.name !== s.name) return 'scheduler differs from the definition';
    if (typeof sch.next !== 'number') return 'scheduler has no next run';
    const state = await this.queues.source(s.queue).getJobState(scheduledJobId(id, sch.next));
    return state === 'unknown' ? 'next job missing' : undefined;
  }

  private async view(id: string, s: StoredSchedule): Promise<ScheduleView> {
    const v: ScheduleView = {
      id,
      queue: s.queue,
      name: s.name,
      cron: s.cron,
      tz: s.tz,
      data: s.data,
      opts: s.opts,
      paused: s.paused,
      nextRuns: s.paused ? [] : nextRuns(s.cron, s.tz, 5),
      createdAt: iso(s.createdAt),
      updatedAt: iso(s.updatedAt),
      managedBy: s.managedBy,
    };
    const last = s.paused ? undefined : await this.lastRunAt(id, s);
    if (last) v.lastRunAt = last;
    return v;
  }

  /**
   * BullMQ keeps no "last run"; the run before the scheduler's next one is
   * the cron time just before it, and that job (kept for a day) says when it started.
   */
  private async lastRunAt(id: string, s: StoredSchedule): Promise<string | undefined> {
    const sch = await this.scheduler(id, s.queue);
    if (typeof sch?.next !== 'number') return undefined;
    const prev = previousRun(s.cron, s.tz, new Date(sch.next));
    if (!prev) return undefined;
    const started = await this.queues.connection.hget(keys.job(s.queue, scheduledJobId(id, prev.getTime())), 'processedOn');
    return started ? iso(Number(started)) : undefined;
  }
}
