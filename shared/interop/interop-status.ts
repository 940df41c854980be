/**
 * What the interop bridge is doing, for `conveyor interop status`: the live
 * bridges with their last heartbeat and the items in their processing lists,
 * the foreign sources with how many jobs wait in each, and the size of the
 * rejected list.
 */
import type { RedisConnection } from '../redis/connections.ts';
import { foreignKeys, interopKeys } from './interop-keys.ts';

export interface InteropStatus {
  bridges: { id: string; lastBeatAt: string; inFlight: number }[];
  sources: { key: string; waiting: number }[];
  rejected: number;
}

export async function interopStatus(conn: RedisConnection): Promise<InteropStatus> {
  const [beats, resque, sidekiq, rejected, scheduled] = await Promise.all([
    conn.zrange(interopKeys.bridges, '0', '-1', 'WITHSCORES') as Promise<string[]>,
    conn.smembers(foreignKeys.resqueQueues),
    conn.smembers(foreignKeys.sidekiqQueues),
    conn.llen(interopKeys.rejected),
    conn.zcard(foreignKeys.sidekiqSchedule),
  ]);
  const bridges: InteropStatus['bridges'] = [];
  for (let i = 0; i + 1 < beats.length; i += 2) {
    const id = beats[i]!;
    let inFlight = 0;
    for (const source of await conn.smembers(interopKeys.sources(id))) inFlight += await conn.llen(interopKeys.processing(id, source));
    bridges.push({ id, lastBeatAt: new Date(Number(beats[i + 1])).toISOString(), inFlight });
  }
  const keys = [...resque.sort().map(foreignKeys.resqueQueue), ...sidekiq.sort().map(foreignKeys.sidekiqQueue)];
  const lengths = await Promise.all(keys.map((k) => conn.llen(k)));
  const sources = keys.map((key, i) => ({ key, waiting: lengths[i]! }));
  sources.push({ key: foreignKeys.sidekiqSchedule, waiting: scheduled });
  return { bridges, sources, rejected };
}
