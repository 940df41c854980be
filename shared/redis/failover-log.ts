/**
 * The failover log: every process records the primary changes it sees (a
 * connection that comes back on another primary than before) into one capped
 * Redis list, so the board can show when Redis failed over and who noticed.
 * Many processes see the same change: an entry with the same (from, to)
 * within a minute is recorded once, by whoever comes first (checked and
 * written in one script, so two processes cannot both add it).
 *
 * Also the process-wide counters of reconnects and failovers seen, for metrics.
 */
import type { RedisConnection } from './connections.ts';
import { keys } from '../queue/names.ts';

export type FailoverKind = 'sentinel' | 'endpoint';

export interface FailoverEntry {
  /** Epoch ms when the process saw the new primary. */
  at: number;
  /** The previous primary, "address:port". */
  from: string;
  /** The new primary, "address:port". */
  to: string;
  /** Which process saw it ("conveyor-worker@host:pid"). */
  seenBy: string;
  /** How the change reached us: Sentinel told the client, or the same endpoint now leads to another node. */
  kind: FailoverKind;
}

/** Longest the list gets. */
export const FAILOVER_LOG_MAX = 200;
/** The same (from, to) within this window is one failover. */
export const FAILOVER_DEDUPE_MS = 60_000;

/** Process-wide counters (read by the metrics code; never reset). */
export const failoverStats = {
  /** Primary changes this process saw (deduplicated by (from, to) within a minute). */
  failoversSeen: 0,
  /** Times a connection of this process became ready again after its first time. */
  reconnects: 0,
  /** Connections this process dropped on purpose because they were talking to a replica. */
  replicaReconnects: 0,
  /** Connections ioredis ended on its own that were connected again. */
  revived: 0,
};

/**
 * KEYS[1] the failover list
 * ARGV[1] entry (JSON)  ARGV[2] from  ARGV[3] to  ARGV[4] now (ms)  ARGV[5] window (ms)  ARGV[6] max length
 * Returns 1 when added, 0 when the same change is already listed within the window.
 */
const RECORD_SCRIPT = `
local now = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
for _, raw in ipairs(redis.call('LRANGE', KEYS[1], 0, 49)) do
  local ok, e = pcall(cjson.decode, raw)
  if ok and type(e) == 'table' and e['from'] == ARGV[2] and e['to'] == ARGV[3] and math.abs(now - (tonumber(e['at']) or 0)) < window then
    return 0
  end
end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[6]) - 1)
return 1
`;

/** In this process: the last time each (from, to) was counted. */
const counted = new Map<string, number>();

/**
 * Counts a primary change (once per (from, to) and minute in this process)
 * and appends it to the log unless another process already did. Returns
 * whether this call added the entry. Never throws: a log write is not worth
 * failing anything for.
 */
export async function recordFailover(conn: RedisConnection, entry: FailoverEntry): Promise<boolean> {
  const pair = `${entry.from}>${entry.to}`;
  const last = counted.get(pair);
  if (last !== undefined && entry.at - last < FAILOVER_DEDUPE_MS) return false;
  counted.set(pair, entry.at);
  failoverStats.failoversSeen++;
  try {
    const added = await conn.eval(RECORD_SCRIPT, 1, keys.failovers, JSON.stringify(entry), entry.from, entry.to, entry.at, FAILOVER_DEDUPE_MS, FAILOVER_LOG_MAX);
    return added === 1;
  } catch {
    return false;
  }
}

/** The newest `limit` entries, newest first; unreadable entries are skipped. */
export async function recentFailovers(conn: RedisConnection, limit = 20): Promise<FailoverEntry[]> {
  const n = Math.max(1, Math.min(Math.floor(limit), FAILOVER_LOG_MAX));
  const raw = await conn.lrange(keys.failovers, 0, n - 1);
  const out: FailoverEntry[] = [];
  for (const r of raw) {
    try {
      const e = JSON.parse(r) as Partial<FailoverEntry>;
      if (typeof e.at === 'number' && typeof e.from === 'string' && typeof e.to === 'string') {
        out.push({ at: e.at, from: e.from, to: e.to, seenBy: String(e.seenBy ?? ''), kind: e.kind === 'sentinel' ? 'sentinel' : 'endpoint' });
      }
    } catch {
      // not ours or damaged: skip
    }
  }
  return out;
}
