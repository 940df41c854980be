/**
 * Keys of the interop bridge: the foreign systems' own (Resque, Sidekiq,
 * never hash-tagged, so interop needs a standalone or Sentinel Redis, not
 * Cluster) and Conveyor's bookkeeping under "conveyor:interop:".
 */
import { PREFIX } from '../queue/names.ts';

export type InteropFormat = 'sidekiq' | 'resque';
export const INTEROP_FORMATS: readonly InteropFormat[] = ['sidekiq', 'resque'];

/** Where foreign producers write. */
export const foreignKeys = {
  /** Set of Resque queue names (`SADD resque:queues NAME`). */
  resqueQueues: 'resque:queues',
  /** Resque pushes with RPUSH and pops from the left. */
  resqueQueue: (queue: string) => `resque:queue:${queue}`,
  /** Set of Sidekiq queue names (`SADD queues NAME`). */
  sidekiqQueues: 'queues',
  /** Sidekiq pushes with LPUSH and pops from the right. */
  sidekiqQueue: (queue: string) => `queue:${queue}`,
  /** Sidekiq's scheduled jobs: zset, score = run-at (seconds, float), member = payload without "at". */
  sidekiqSchedule: 'schedule',
} as const;

const BASE = `${PREFIX}:interop`;

/** Conveyor's interop bookkeeping. */
export const interopKeys = {
  /** List of payloads the bridge could not turn into jobs: JSON {payload, reason, at, source, bridge}, newest first. */
  rejected: `${BASE}:rejected`,
  /** Zset: bridge id → last heartbeat (ms). A bridge whose heartbeat is older than the lease is presumed dead. */
  bridges: `${BASE}:bridges`,
  /** Set of the source keys a bridge has moved items from (so a survivor finds its processing lists). */
  sources: (bridge: string) => `${BASE}:bridge:${bridge}:sources`,
  /** The per-bridge, per-source processing list: items moved out of the source and not yet enqueued. */
  processing: (bridge: string, sourceKey: string) => `${BASE}:bridge:${bridge}:processing:${sourceKey}`,
  /** Hash: source key + NUL + sha256(item) → the job id chosen for an item without a jid, kept until the item is done. */
  claims: (bridge: string) => `${BASE}:bridge:${bridge}:claims`,
  /** Lock held by the bridge replaying a dead bridge's processing lists. */
  recovering: (bridge: string) => `${BASE}:bridge:${bridge}:recovering`,
} as const;

/** The format of a source key, and the queue it feeds (undefined for Sidekiq's schedule: the payload names it). */
export function describeSource(sourceKey: string): { format: InteropFormat; queue: string | undefined } {
  if (sourceKey === foreignKeys.sidekiqSchedule) return { format: 'sidekiq', queue: undefined };
  if (sourceKey.startsWith('resque:queue:')) return { format: 'resque', queue: sourceKey.slice('resque:queue:'.length) };
  if (sourceKey.startsWith('queue:')) return { format: 'sidekiq', queue: sourceKey.slice('queue:'.length) };
  throw new Error(`not an interop source key: ${sourceKey}`);
}

export function sourceKey(format: InteropFormat, queue: string): string {
  return format === 'resque' ? foreignKeys.resqueQueue(queue) : foreignKeys.sidekiqQueue(queue);
}
