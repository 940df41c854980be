/**
 * Moving the jobs of one BullMQ queue (a Conveyor queue or its dead letters)
 * from the old deployment to the new one, keeping ids, names, data, options,
 * creation times, remaining attempts and due times. Per batch:
 *
 *   1. snapshot the jobs into the journal on the old side (HSET)
 *   2. remove them from the old queue, each only if it is still waiting
 *      (one script): a job a worker took meanwhile finishes on the old side
 *   3. add them to the new queue under the same ids (an id already there adds nothing)
 *   4. drop the journal entries
 *
 * A crash leaves snapshots in the journal; replayJournal() finishes them:
 * never lost. The old queue is paused meanwhile (migration.ts), which makes
 * the journal unambiguous: a journaled job missing from the old side was
 * removed by the move, not run there. (Only if someone resumes the queue by
 * hand after a crash, and a worker runs and cleans away a journaled job
 * before the rerun, can that job run twice: at least once, never lost.)
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

/**
 * Removes jobs from the old side only while they wait (wait list, prioritized
 * or delayed set), all in one script: a job a worker took meanwhile is left
 * alone, and so is one in any other state. BullMQ's own remove() would
 * delete a completed job too, and its LREM scans the whole wait list for
 * every job (hours for a million waiting jobs); LREM -1 from the tail, where
 * the oldest jobs are, stops after a few entries.
 * A journaled job whose hash is already gone counts as removed too: the
 * removal happened, only its reply was lost (ioredis resends an unanswered
 * script after a reconnect, and the resent one finds nothing; or a killed
 * run's last script ran after the rerun looked). Reading "not removed" as "a
 * worker took it" there dropped the journal entry of a batch that was then on
 * neither side: a whole batch lost with exit 0. The queue is paused while
 * jobs move, so a missing hash is the move's doing (see the top of this file).
 * KEYS[1] wait, KEYS[2] prioritized, KEYS[3] delayed; ARGV[1] the queue's key
 * prefix ("conveyor:{q}:"), ARGV[2..] job ids. Returns the ids removed or already gone.
 */
const REMOVE_WAITING = `
local removed = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local jobKey = ARGV[1] .. id
  local n = redis.call('LREM', KEYS[1], -1, id)
  if n == 0 then n = redis.call('ZREM', KEYS[2], id) end
  if n == 0 then n = redis.call('ZREM', KEYS[3], id) end
  if n == 0 and redis.call('EXISTS', jobKey) == 0 then
    removed[#removed + 1] = id
  elseif n > 0 then
    local dedup = redis.call('HGET', jobKey, 'deid')
    if dedup and redis.call('GET', ARGV[1] .. 'de:' .. dedup) == id then redis.call('DEL', ARGV[1] .. 'de:' .. dedup) end
    redis.call('DEL', jobKey, jobKey .. ':logs', jobKey .. ':dependencies', jobKey .. ':processed', jobKey .. ':failed', jobKey .. ':unsuccessful')
    removed[#removed + 1] = id
  end
end
return removed`;

async function removeWaiting(side: MoveSide, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const k = side.queue.keys;
  const out = (await side.conn.eval(REMOVE_WAITING, 3, k.wait!, k.prioritized!, k.delayed!, side.queue.toKey(''), ...ids)) as string[];
  return new Set(out);
}

/** Steps 2-4 for snapshots already in the journal. */
async function commit(from: MoveSide, to: MoveSide, journal: string, snaps: JobSnapshot[], t: MoveTally, { alreadyRemoved = new Set<string>() } = {}): Promise<void> {
  if (snaps.length === 0) return;
  // A Redis error aborts the run here: the snapshots stay in the journal for the next one.
  const removed = await removeWaiting(from, snaps.filter((s) => !alreadyRemoved.has(s.id)).map((s) => s.id));
  const gone = new Set([...alreadyRemoved, ...removed]);
  for (const s of snaps) if (!gone.has(s.id)) skip(t, 'no longer waiting on the old side (a worker took it): it finishes there', s.id);
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
