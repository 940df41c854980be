/**
 * Which connection of an ioredis Cluster serves a key. Most commands route
 * themselves by their keys; WAIT has none, so ioredis would send it to a
 * random node, where it counts the replicas of a master that never saw the
 * write (and answers at once). Durable enqueue asks the master that holds the
 * queue's slot, on the connection that wrote the job.
 */
import { Command, type Cluster, type Redis } from 'ioredis';

/** The master connection serving `key` per the client's slot map, or undefined when the map does not know the slot yet. */
export function masterConnectionFor(cluster: Cluster, key: string): Redis | undefined {
  const slot = new Command('exists', [key]).getSlot();
  if (typeof slot !== 'number') return undefined;
  const node = cluster.slots[slot]?.[0];
  if (!node) return undefined;
  return cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === node);
}
