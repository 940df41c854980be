/**
 * Cheap readings for metrics and alerts: how long the oldest runnable job of
 * a queue has waited (two commands per queue), and how many workers consume
 * each queue (one CLIENT LIST for all). Read on a Prometheus scrape, never per job.
 */
import { Cluster } from 'ioredis';
import type { QueueSet } from './queue-set.ts';
import { PREFIX, bullName } from './names.ts';

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
 * Workers consuming each queue, from one CLIENT LIST (BullMQ names its worker
 * connections after the queue; on a Cluster, the node with the most of them,
 * as BullMQ's getWorkers does). One command per scrape, however many queues.
 * Undefined where CLIENT LIST is refused (some managed services).
 */
export async function workerCounts(queues: QueueSet, names: readonly string[]): Promise<Map<string, number> | undefined> {
  const conn = queues.connection;
  let lists: string[];
  try {
    lists = conn instanceof Cluster
      ? await Promise.all(conn.nodes('master').map(async (n) => String(await n.call('CLIENT', 'LIST'))))
      : [String(await conn.call('CLIENT', 'LIST'))];
  } catch {
    return undefined;
  }
  const perNode = lists.map((list) => list.split('\n').map((line) => /(?:^| )name=(\S+)/.exec(line)?.[1]).filter((n): n is string => n !== undefined));
  const counts = new Map<string, number>();
  for (const q of names) {
    // BullMQ's name for a queue's connections (RedisQueueBackend.clientName): prefix:base64(queue name).
    const base = `${PREFIX}:${Buffer.from(bullName(q)).toString('base64')}`;
    const worker = `${base}:w:`;
    counts.set(q, Math.max(0, ...perNode.map((clients) => clients.filter((n) => n === base || n.startsWith(worker)).length)));
  }
  return counts;
}

/** Workers consuming one queue (see workerCounts). */
export async function workerCount(queues: QueueSet, queue: string): Promise<number | undefined> {
  return (await workerCounts(queues, [queue]))?.get(queue);
}
