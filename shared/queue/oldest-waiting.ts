/**
 * How long the oldest job of a queue has been waiting: the tail of BullMQ's
 * wait list (jobs are pushed at its head), one LRANGE and one hash read per
 * queue. A job that was delayed counts from when its delay ended.
 */
import type { QueueSet } from './queue-set.ts';

export interface OldestWaiting {
  id: string;
  /** Epoch ms since which the job has been ready to run. */
  since: number;
}

export async function oldestWaiting(queues: QueueSet, queue: string): Promise<OldestWaiting | undefined> {
  // asc = true: the oldest first.
  const [job] = await queues.source(queue).getJobs(['wait'], 0, 0, true);
  if (!job) return undefined;
  const delay = typeof job.opts.delay === 'number' ? job.opts.delay : 0;
  return { id: String(job.id), since: job.timestamp + delay };
}
