/**
 * `conveyor migrate`: moves what the old deployment holds to the new one
 * while both keep running: schedules first (schedule-move.ts), then per queue
 * its waiting, prioritized and delayed jobs and its dead letters
 * (job-move.ts), and with `withHistory` a copy of its finished jobs. Active
 * jobs are left to finish where they run (a dual-drain worker, DRAIN_REDIS_URLS,
 * consumes the old side until it is empty).
 *
 * Each queue is paused on the old side while its jobs move, so no worker
 * starts a job that is being moved; it is resumed after (a queue an operator
 * had paused stays paused, and is paused on the new side too). Idempotent
 * and resumable: ids are kept, so a second run adds nothing twice, and a
 * crashed run's journals are finished first.
 */
import { ConveyorError } from '../errors.ts';
import { parseInfo } from '../metrics/redis-gauges.ts';
import type { RedisConnection } from '../redis/connections.ts';
import type { Inspector } from '../queue/inspector.ts';
import type { QueueSet } from '../queue/queue-set.ts';
import type { Schedules } from '../queue/schedules.ts';
import { copyHistory, type HistoryTally } from './history-copy.ts';
import { emptyTally, moveState, replayJournal, type MoveSide, type MoveTally, type MovedState } from './job-move.ts';
import { migrateKeys } from './migrate-keys.ts';
import { moveSchedules, schedulesToMove, type ScheduleTally } from './schedule-move.ts';

export interface Side {
  label: string;
  conn: RedisConnection;
  queues: QueueSet;
  inspector: Inspector;
  schedules: Schedules;
}

export interface MigrationOptions {
  /** Default: every queue in the old side's registry. */
  queues?: readonly string[] | undefined;
  dryRun?: boolean;
  withHistory?: boolean;
  onProgress?: (text: string) => void;
}

export interface SkippedJobs {
  reason: string;
  count: number;
  /** The first few ids. */
  ids: string[];
}

export interface QueueReport {
  queue: string;
  /** Moved (dry run: would move) by state; dead = dead letters. */
  moved: { waiting: number; prioritized: number; delayed: number; dead: number };
  /** Ids already on the new side (that copy kept, the old one removed). */
  alreadyThere: number;
  /** Journal entries of an interrupted run finished first. */
  resumed: number;
  skipped: SkippedJobs[];
  /** Active on the old side when the queue was done: they finish there. */
  leftActive: number;
  /** An operator had paused the queue on the old side: it is paused on the new side too. */
  paused: boolean;
  history?: HistoryTally;
}

export interface MigrationReport {
  from: string;
  to: string;
  dryRun: boolean;
  withHistory: boolean;
  startedAt: string;
  durationMs: number;
  queues: QueueReport[];
  schedules: ScheduleTally & { wouldMove?: string[] };
  totals: { moved: number; alreadyThere: number; skipped: number; leftActive: number };
}

const STATES: MovedState[] = ['waiting', 'prioritized', 'delayed'];
const SHOW_IDS = 20;

async function runId(conn: RedisConnection): Promise<string | undefined> {
  return parseInfo(String(await conn.call('INFO', 'server'))).get('run_id');
}

function skippedList(t: MoveTally): SkippedJobs[] {
  return [...t.skipped].map(([reason, ids]) => ({ reason, count: ids.length, ids: ids.slice(0, SHOW_IDS) }));
}

export async function migrate(from: Side, to: Side, opts: MigrationOptions = {}): Promise<MigrationReport> {
  const started = Date.now();
  const progress = opts.onProgress ?? (() => {});
  const [a, b] = await Promise.all([runId(from.conn), runId(to.conn)]);
  if (a !== undefined && a === b) {
    throw new ConveyorError('INVALID_REQUEST', `--from and --to lead to the same Redis server (run_id ${a}): nothing to migrate`);
  }
  const known = await from.inspector.queueNames();
  const names = opts.queues ? [...opts.queues] : known;
  const only = opts.queues ? new Set(opts.queues) : undefined;
  const report: MigrationReport = {
    from: from.label,
    to: to.label,
    dryRun: opts.dryRun === true,
    withHistory: opts.withHistory === true,
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    queues: [],
    schedules: { moved: [], alreadyThere: [], finished: [] },
    totals: { moved: 0, alreadyThere: 0, skipped: 0, leftActive: 0 },
  };

  if (opts.dryRun) report.schedules.wouldMove = await schedulesToMove(from.schedules, only);
  else {
    progress('schedules: moving');
    report.schedules = await moveSchedules(from.schedules, to.schedules, to.conn, only);
  }

  for (const queue of names) {
    if (!known.includes(queue)) {
      report.queues.push({ queue, moved: { waiting: 0, prioritized: 0, delayed: 0, dead: 0 }, alreadyThere: 0, resumed: 0, skipped: [{ reason: 'no such queue on the old side', count: 0, ids: [] }], leftActive: 0, paused: false });
      continue;
    }
    const q = opts.dryRun ? await planQueue(from, queue) : await moveQueue(from, to, queue, opts.withHistory === true, (s) => progress(`${queue}: ${s}`));
    report.queues.push(q);
  }
  for (const q of report.queues) {
    report.totals.moved += q.moved.waiting + q.moved.prioritized + q.moved.delayed + q.moved.dead;
    report.totals.alreadyThere += q.alreadyThere;
    report.totals.skipped += q.skipped.reduce((n, s) => n + s.count, 0);
    report.totals.leftActive += q.leftActive;
  }
  report.durationMs = Date.now() - started;
  return report;
}

/** Dry run: what a run would move now, from the counts; nothing is written. */
async function planQueue(from: Side, queue: string): Promise<QueueReport> {
  const src = from.queues.source(queue);
  const [c, dead, paused, journal] = await Promise.all([
    src.getJobCounts('waiting', 'prioritized', 'delayed', 'active'),
    from.inspector.deadLetters.count(queue),
    src.isPaused(),
    from.conn.hlen(migrateKeys.jobs(queue)),
  ]);
  return {
    queue,
    moved: { waiting: c.waiting ?? 0, prioritized: c.prioritized ?? 0, delayed: c.delayed ?? 0, dead },
    alreadyThere: 0,
    resumed: journal,
    skipped: [],
    leftActive: c.active ?? 0,
    paused: paused && (await from.conn.exists(migrateKeys.pausedByMigrate(queue))) === 0,
  };
}

async function moveQueue(from: Side, to: Side, queue: string, withHistory: boolean, progress: (s: string) => void): Promise<QueueReport> {
  const src: MoveSide = { queue: from.queues.source(queue), conn: from.conn };
  const dst: MoveSide = { queue: to.queues.source(queue), conn: to.conn };
  const flag = migrateKeys.pausedByMigrate(queue);
  // A queue an operator paused stays paused; one a crashed run paused is ours to resume.
  const operatorPaused = (await from.conn.exists(flag)) === 0 && (await src.queue.isPaused());
  if (!operatorPaused) {
    await from.conn.set(flag, new Date().toISOString());
    await src.queue.pause();
  }
  await to.queues.register(queue);
  const tally = emptyTally();
  const moved = { waiting: 0, prioritized: 0, delayed: 0, dead: 0 };
  let resumed = 0;
  let history: HistoryTally | undefined;
  try {
    resumed += await replayJournal(src, dst, migrateKeys.jobs(queue), tally);
    const counts = await src.queue.getJobCounts(...STATES);
    for (const state of STATES) {
      const before = tally.moved;
      // Producers still writing to the old side could keep this going: what comes later is the drain's.
      const limit = 2 * (counts[state] ?? 0) + 1000;
      await moveState(src, dst, migrateKeys.jobs(queue), state, tally, { limit, onBatch: (n) => progress(`${state} ${n}/${counts[state] ?? 0}`) });
      moved[state] = tally.moved - before;
    }
    const deadSrc: MoveSide = { queue: from.queues.dead(queue), conn: from.conn };
    const deadDst: MoveSide = { queue: to.queues.dead(queue), conn: to.conn };
    const before = tally.moved;
    resumed += await replayJournal(deadSrc, deadDst, migrateKeys.dead(queue), tally);
    const deadCount = await from.inspector.deadLetters.count(queue);
    for (const state of ['waiting', 'prioritized'] as const) {
      await moveState(deadSrc, deadDst, migrateKeys.dead(queue), state, tally, { onBatch: (n) => progress(`dead letters ${n}/${deadCount}`) });
    }
    moved.dead = tally.moved - before;
    if (withHistory) history = await copyHistory(src, dst, (n) => progress(`history ${n}`));
  } finally {
    if (!operatorPaused) {
      await src.queue.resume();
      await from.conn.del(flag);
    }
  }
  if (operatorPaused) await dst.queue.pause();
  const leftActive = (await src.queue.getJobCounts('active')).active ?? 0;
  progress(`done: ${moved.waiting + moved.prioritized + moved.delayed} jobs, ${moved.dead} dead letters`);
  return { queue, moved, alreadyThere: tally.alreadyThere, resumed, skipped: skippedList(tally), leftActive, paused: operatorPaused, ...(history ? { history } : {}) };
}
