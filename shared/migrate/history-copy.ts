/**
 * `migrate --with-history`: copies finished jobs (the completed and failed
 * sets, as BullMQ keeps them) so lookups of past results keep working on the
 * new side. A copy, not a move: the old side keeps its history. BullMQ has no
 * API to add a finished job, so this copies its hash and its set entry as
 * BullMQ stores them (same BullMQ version on both sides); a job already on
 * the new side is left alone, so running it twice copies nothing twice.
 */
import type { Queue } from 'bullmq';
import type { RedisConnection } from '../redis/connections.ts';

export interface HistoryTally {
  completed: number;
  failed: number;
  alreadyThere: number;
}

const PAGE = 500;

export async function copyHistory(from: { queue: Queue; conn: RedisConnection }, to: { queue: Queue; conn: RedisConnection }, onPage?: (copied: number) => void): Promise<HistoryTally> {
  const tally: HistoryTally = { completed: 0, failed: 0, alreadyThere: 0 };
  for (const set of ['completed', 'failed'] as const) {
    const fromSet = from.queue.keys[set]!;
    const toSet = to.queue.keys[set]!;
    for (let start = 0; ; start += PAGE) {
      const page = (await from.conn.zrange(fromSet, String(start), String(start + PAGE - 1), 'WITHSCORES')) as string[];
      if (page.length === 0) break;
      const entries: [string, string][] = [];
      for (let i = 0; i + 1 < page.length; i += 2) entries.push([page[i]!, page[i + 1]!]);
      const read = from.conn.pipeline();
      for (const [id] of entries) read.hgetall(from.queue.toKey(id));
      const hashes = ((await read.exec()) ?? []).map(([, h]) => h as Record<string, string>);
      const there = to.conn.pipeline();
      for (const [id] of entries) there.exists(to.queue.toKey(id));
      const exists = ((await there.exec()) ?? []).map(([, n]) => n === 1);
      const write = to.conn.pipeline();
      entries.forEach(([id, score], i) => {
        const h = hashes[i];
        if (exists[i]) tally.alreadyThere++;
        else if (h && Object.keys(h).length > 0) {
          write.hset(to.queue.toKey(id), h);
          write.zadd(toSet, 'NX', score, id);
          tally[set]++;
        }
      });
      await write.exec();
      onPage?.(tally.completed + tally.failed);
      if (entries.length < PAGE) break;
    }
  }
  return tally;
}
