/**
 * Where a batch lives in Redis (docs/internals.md "Batches").
 *
 * A batch is a BullMQ flow: in every queue that holds some of its jobs there
 * is one *tracker* — a BullMQ parent job with the batch's id in the BullMQ
 * queue "{queue}.batches" (same hash slot as the queue, like its dead
 * letters) — and each job of the batch is its child, added with
 * ignoreDependencyOnFailure. BullMQ's own scripts then keep the ledger, in
 * the same atomic step as the job's own state change:
 *
 *   conveyor:{q}.batches:<id>                 the tracker (a BullMQ job hash, waiting-children)
 *   conveyor:{q}.batches:<id>:dependencies    set: children not finished (BullMQ)
 *   conveyor:{q}.batches:<id>:processed       hash: child key → return value (BullMQ, on completion)
 *   conveyor:{q}.batches:<id>:failed          hash: child key → failure reason (BullMQ, on final failure: ignoreDependencyOnFailure)
 *   conveyor:{q}.batches:<id>:retrying        set: children that failed an attempt (Conveyor; counted only while still in dependencies)
 *   conveyor:{q}.batches:open                 zset: "<id>@<home>" of batches with jobs here not settled for good, scored by when to look again
 *
 * The batch itself lives beside the tracker of its *home* queue (the queue of
 * its first job):
 *
 *   conveyor:{home}.batches:<id>:meta         hash: total, sealed, queues, callbacks, fired/sent times, parent
 *   conveyor:{home}.batches:<id>:outbox       hash: callbacks fired but not yet enqueued (kind → JSON)
 *   conveyor:{home}.batches:<id>:children     hash: nested batch id → p (pending) | c (completed) | s (succeeded)
 *   conveyor:{home}.batches:done              zset: batches finished for good, by when (retention)
 *
 * and a batch is found by id through two keys outside any queue's slot:
 *
 *   conveyor:batches:{batches}:index   zset: id → created at (ms), newest last
 *   conveyor:batches:{batches}:home    hash: id → home queue
 */
import { PREFIX } from '../queue/names.ts';

/** The BullMQ queue holding a queue's batch trackers (never consumed; same hash slot as the queue). */
export function trackerQueueName(queue: string): string {
  return `{${queue}}.batches`;
}

/** "conveyor:{q}.batches": the tracker queue's key, as BullMQ's parent option wants it. */
export function trackerQueueKey(queue: string): string {
  return `${PREFIX}:${trackerQueueName(queue)}`;
}

export function trackerKey(queue: string, id: string): string {
  return `${trackerQueueKey(queue)}:${id}`;
}

/** A child job's key as the ledger holds it ("conveyor:{q}:<job id>"). */
export function childKey(queue: string, jobId: string): string {
  return `${PREFIX}:{${queue}}:${jobId}`;
}

export const batchKeys = {
  meta: (home: string, id: string) => `${trackerKey(home, id)}:meta`,
  outbox: (home: string, id: string) => `${trackerKey(home, id)}:outbox`,
  children: (home: string, id: string) => `${trackerKey(home, id)}:children`,
  retrying: (queue: string, id: string) => `${trackerKey(queue, id)}:retrying`,
  failed: (queue: string, id: string) => `${trackerKey(queue, id)}:failed`,
  dependencies: (queue: string, id: string) => `${trackerKey(queue, id)}:dependencies`,
  open: (queue: string) => `${trackerQueueKey(queue)}:open`,
  done: (queue: string) => `${trackerQueueKey(queue)}:done`,
  // One hash tag for both (they are written in one MULTI, also on Cluster); "conveyor:batches:…" cannot collide with a queue's keys ("conveyor:{…").
  index: `${PREFIX}:batches:{batches}:index`,
  home: `${PREFIX}:batches:{batches}:home`,
} as const;

/** A member of a queue's open set: the batch and where its meta lives. */
export function openMember(id: string, home: string): string {
  return `${id}@${home}`;
}

export function parseOpenMember(member: string): { id: string; home: string } | undefined {
  const at = member.indexOf('@');
  return at > 0 ? { id: member.slice(0, at), home: member.slice(at + 1) } : undefined;
}

/** The callback job's id: one per batch and kind, so a second enqueue of it adds nothing. */
export function callbackJobId(id: string, kind: CallbackKind): string {
  return `batch-${id}-${kind}`;
}

export type CallbackKind = 'success' | 'complete' | 'death';
export const CALLBACK_KINDS: readonly CallbackKind[] = ['death', 'complete', 'success'];
