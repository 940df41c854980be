/**
 * Moving the jobs of one BullMQ queue (a Conveyor queue or its dead letters)
 * from the old deployment to the new one, keeping ids, names, data, options,
 * creation times, remaining attempts and due times. Per batch:
 *
 *   1. snapshot the jobs into the journal on the old side (HSET)
 *   2. remove them from the old queue (a job that became active is refused:
 *      it finishes on the old side)
 *   3. add them to the new queue under the same ids (an id already there adds nothing)
 *   4. drop the journal entries
 *
 * The old queue is paused meanwhile (migration.ts), so no worker takes a job
 * between the snapshot and the removal. A crash leaves snapshots in the
 * journal; replayJournal() finishes them: never lost, and run twice only if a
 * job in the journal also ran on the old side while a crashed run had left the
 * queue paused and someone resumed it by hand.
 */
import type { Job, JobsOptions, Queue } from 'bullmq';
import type { RedisConnection } from '../redis/connections.ts';

export type MovedState = 'waiting' | 'prioritized' | 'delayed';

export interface JobSnapshot {
  id: string;
  name: string;
  data: unknown;
  opts: JobsOptions;
}

export interface MoveSide {
  queue: Queue;
  conn: RedisConnection;
}

export interface MoveTally {
  moved: number;
  /** The id already existed on the new side: that copy was kept. */
  alreadyThere: number;
  /** Reason → job ids left on the old side. */
  skipped: Map<string, string[]>;
}

export const emptyTally = (): MoveTally => ({ moved: 0, alreadyThere: 0, skipped: new Map() });

const BATCH = 500;

function skip(t: MoveTally, reason: string, id: string): void {
  const ids = t.skipped.get(reason) ?? [];
  ids.push(id);
  t.skipped.set(reason, ids);
}

/** The options that re-create a job: same id and creation time, the attempts it has left, the same due time. */
export function snapshotOf(job: Job, dueAt: number | undefined): JobSnapshot {
  const { jobId: _id, repeat: _r, repeatJobKey: _k, prevMillis: _p, parent: _parent, delay: _d, timestamp: _t, attempts, ...rest } = job.opts as JobsOptions & Record<string, unknown>;
  const opts: JobsOptions = { ...rest, jobId: String(job.id), attempts: Math.max(1, (attempts ?? 1) - job.attemptsMade), timestamp: job.timestamp };
  // BullMQ schedules a delayed job at timestamp + delay.
  if (dueAt !== undefined && dueAt > job.timestamp) opts.delay = dueAt - job.timestamp;
  return { id: String(job.id), name: job.name, data: job.data, opts };
}

/** Why a job cannot be moved with its id, or undefined. */
function unmovable(job: Job): string | undefined {
  const id = String(job.id);
  if (`${parseInt(id, 10)}` === id) return 'integer id (a raw BullMQ producer\'s): BullMQ refuses it as a custom id; left to run on the old side';
  if (id.includes(':') && id.split(':').length !== 3) return 'id with ":" that BullMQ refuses as a custom id; left on the old side';
  if (job.opts.parent) return 'child of a flow: flows are not migrated; left on the old side';
  return undefined;
}

/** Due times of delayed jobs, from the delayed zset (score = due ms × 4096 + a counter). */
async function dueTimes(side: MoveSide, ids: string[]): Promise<(number | undefined)[]> {
  if (ids.length === 0) return [];
  const p = side.conn.pipeline();
  for (const id of ids) p.zscore(side.queue.keys.delayed!, id);
  const replies = (await p.exec()) ?? [];
  return replies.map(([, s]) => (s === null || s === undefined ? undefined : Math.floor(Number(s) / 0x1000)));
}

/** Steps 2-4 for snapshots already in the journal. */
async function commit(from: MoveSide, to: MoveSide, journal: string, snaps: JobSnapshot[], t: MoveTally, { alreadyRemoved = new Set<string>() } = {}): Promise<void> {
  if (snaps.length === 0) return;
  const removable = snaps.filter((s) => !alreadyRemoved.has(s.id));
  // A Redis error aborts the run here: the snapshots stay in the journal for the next one.
  const codes = await Promise.all(removable.map((s) => from.queue.remove(s.id)));
  // Check the job really left (remove() answers -8 for a scheduler's next run, which it keeps).
  const p = from.conn.pipeline();
  for (const s of removable) p.exists(from.queue.toKey(s.id));
  const still = ((await p.exec()) ?? []).map(([, n]) => n === 1);
  const gone = new Set(alreadyRemoved);
  removable.forEach((s, i) => {
    if (!still[i]) gone.add(s.id);
    else if (codes[i] === 0) skip(t, 'became active on the old side: it finishes there', s.id);
    else if (codes[i] === -8) skip(t, 'the next run of a BullMQ job scheduler that has no Conveyor schedule: left on the old side', s.id);
    else skip(t, `the old side kept it (remove answered ${codes[i]})`, s.id);
  });
  const movable = snaps.filter((s) => gone.has(s.id));
  if (movable.length > 0) {
    const e = to.conn.pipeline();
    for (const s of movable) e.exists(to.queue.toKey(s.id));
    const exists = ((await e.exec()) ?? []).map(([, n]) => n === 1);
    const fresh = movable.filter((_, i) => !exists[i]);
    t.alreadyThere += movable.length - fresh.length;
    if (fresh.length > 0) await to.queue.addBulk(fresh.map((s) => ({ name: s.name, data: s.data, opts: s.opts })));
    t.moved += fresh.length;
  }
  await from.conn.hdel(journal, ...snaps.map((s) => s.id));
}

/**
 * Finishes the moves a crashed run left in the journal: a job still waiting or
 * delayed on the old side is removed and added; one already gone is added; one
 * that ran on the old side meanwhile is only forgotten.
 */
export async function replayJournal(from: MoveSide, to: MoveSide, journal: string, t: MoveTally): Promise<number> {
  const all = await from.conn.hgetall(journal);
  const snaps = Object.values(all).map((raw) => JSON.parse(raw) as JobSnapshot);
  const alreadyRemoved = new Set<string>();
  const keep: JobSnapshot[] = [];
  for (const s of snaps) {
    const state = await from.queue.getJobState(s.id);
    if (state === 'unknown') alreadyRemoved.add(s.id);
    if (['active', 'completed', 'failed'].includes(state)) skip(t, `ran on the old side after an interrupted migration (${state})`, s.id);
    else keep.push(s);
  }
  await commit(from, to, journal, keep, t, { alreadyRemoved });
  const ran = snaps.filter((s) => !keep.includes(s)).map((s) => s.id);
  if (ran.length > 0) await from.conn.hdel(journal, ...ran);
  return snaps.length;
}

/**
 * Moves every job of one state, batch by batch, until the state is empty (or
 * only unmovable jobs are left). `limit` bounds the work when producers keep
 * adding to the old side: what arrives later is the dual drain's.
 */
export async function moveState(
  from: MoveSide,
  to: MoveSide,
  journal: string,
  state: MovedState,
  t: MoveTally,
  { limit = Infinity, onBatch }: { limit?: number; onBatch?: (done: number) => void } = {},
): Promise<void> {
  const seen = new Set<string>();
  let offset = 0;
  let done = 0;
  while (done < limit) {
    const page = (await from.queue.getJobs([state], offset, offset + BATCH - 1, true)).filter((j): j is Job => Boolean(j));
    if (page.length === 0) return;
    const fresh = page.filter((j) => !seen.has(String(j.id)));
    if (fresh.length === 0) {
      offset += page.length; // a page of jobs left behind: look past it
      continue;
    }
    for (const j of fresh) seen.add(String(j.id));
    const ok: Job[] = [];
    for (const j of fresh) {
      const why = unmovable(j);
      if (why) skip(t, why, String(j.id));
      else ok.push(j);
    }
    const due = state === 'delayed' ? await dueTimes(from, ok.map((j) => String(j.id))) : [];
    const snaps = ok.map((j, i) => snapshotOf(j, due[i]));
    if (snaps.length > 0) await from.conn.hset(journal, Object.fromEntries(snaps.map((s) => [s.id, JSON.stringify(s)])));
    await commit(from, to, journal, snaps, t);
    done += fresh.length;
    onBatch?.(done);
  }
}
