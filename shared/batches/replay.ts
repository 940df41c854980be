/**
 * A dead letter of a batch's job goes back into its batch when replayed: the
 * job is added again as a child of its queue's tracker (BullMQ puts it back
 * in the tracker's dependencies) and leaves the ledger's dead in the same
 * MULTI, so the batch counts it pending, then succeeded or dead again — and a
 * batch that completed with dead jobs may succeed later. Everything is in the
 * queue's hash slot.
 */
import { Job } from 'bullmq';
import type { QueueSet } from '../queue/queue-set.ts';
import type { RedisConnection } from '../redis/connections.ts';
import type { StoredJobOptions } from '../queue/job-input.ts';
import { batchKeys, childKey, openMember, trackerKey, trackerQueueKey } from './keys.ts';

/** Where a dead job's batch is (kept in its dead letter's envelope). */
export interface DeadBatchLink {
  id: string;
  home: string;
  /** A workflow step: its name (its replay goes through the workflow, shared/workflows). */
  step?: string;
}

/**
 * Replays into the batch. false when the batch is gone (removed after its
 * retention): the caller replays it as a plain job.
 */
export async function replayIntoBatch(queues: QueueSet, queue: string, name: string, data: unknown, opts: StoredJobOptions, batch: DeadBatchLink): Promise<boolean> {
  const conn = queues.connection;
  const parentKey = trackerKey(queue, batch.id);
  if ((await conn.exists(parentKey)) !== 1) return false;
  const q = queues.source(queue);
  const o = { ...opts, bt: batch.id, ...(batch.home !== queue ? { bh: batch.home } : {}), parent: { id: batch.id, queue: trackerQueueKey(queue) }, ignoreDependencyOnFailure: true };
  const e = new Job(q, name, data ?? null, o, o.jobId).toFlowEntry({ parentKey, parentDependenciesKey: `${parentKey}:dependencies` });
  const multi = (await q.backend.client).multi() as unknown as ReturnType<RedisConnection['multi']>;
  await q.backend.addJobToTransaction(multi as never, e.jobData, e.jobId, e.parentKeyOpts);
  const child = childKey(queue, String(o.jobId));
  multi.hdel(batchKeys.failed(queue, batch.id), child);
  multi.srem(batchKeys.retrying(queue, batch.id), child);
  // Settled again by the sweep too: the batch is back among the open ones.
  multi.zadd(batchKeys.open(queue), Date.now() + 5000, openMember(batch.id, batch.home));
  const replies = ((await multi.exec()) ?? []) as [Error | null, unknown][];
  const [err, r] = replies[0] ?? [new Error('no reply'), undefined];
  if (err) throw err;
  // -5: the tracker went away between the check and the add; nothing was added.
  if (typeof r === 'number' && r === -5) return false;
  if (typeof r === 'number' && r < 0) throw new Error(`BullMQ refused the replayed job (addJob code ${r})`);
  for (const [e2] of replies) if (e2) throw e2;
  return true;
}
