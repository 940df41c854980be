/**
 * Cheap per-queue readings for metrics and alerts: how long the oldest
 * runnable job has waited, and how many workers consume the queue. Each is a
 * few Redis commands per queue, read on a Prometheus scrape, never per job.
 */
import type { QueueSet } from './queue-set.ts';

/**
 * When the oldest job in the queue's wait list became runnable (ms since the
 * epoch), or undefined when none waits. BullMQ pushes new jobs on the left and
 * workers take from the right, so the oldest is the last element. A delayed
 * job becomes runnable at timestamp + delay, not when it was created.
 */
export async function oldestWaitingSince(queues: QueueSet, queue: string): Promise<number | undefined> {
  const conn = queues.connection;
  const q = queues.source(queue); // BullMQ's own key names
  const id = await conn.lindex(q.keys.wait!, -1);
  if (id === null) return undefined;
  const [timestamp, delay] = await conn.hmget(q.toKey(id), 'timestamp', 'delay');
  const t = Number(timestamp);
  if (!Number.isFinite(t) || t <= 0) return undefined; // moved on between the two reads
  const d = Number(delay);
  return t + (Number.isFinite(d) && d > 0 ? d : 0);
}

/**
 * Workers consuming the queue, from CLIENT LIST (BullMQ names its worker
 * connections). Undefined where CLIENT LIST is refused (some managed services).
 */
export async function workerCount(queues: QueueSet, queue: string): Promise<number | undefined> {
  try {
    const workers = await queues.source(queue).getWorkers();
    // BullMQ answers a refused CLIENT LIST (GCP) with one placeholder entry.
    if (workers.length === 1 && /does not support/.test(String(workers[0]?.name))) return undefined;
    return workers.length;
  } catch {
    return undefined;
  }
}
