/**
 * Sidekiq's scheduled jobs: a zset `schedule` (score = run-at in seconds,
 * member = the payload, which no longer carries "at"). The bridge moves
 * entries into its processing list in one script, keeping the score in the
 * item ("<score>\t<payload>") so the job keeps its due time as a delay. It
 * takes them at once (not when due): they become Conveyor delayed jobs.
 */
import type { RedisConnection } from '../redis/connections.ts';
import { foreignKeys } from './interop-keys.ts';

/** Entries moved per call. */
export const SCHEDULE_BATCH = 100;

/**
 * KEYS[1] schedule zset, KEYS[2] processing list; ARGV[1] batch size, ARGV[2..] the
 * queues to take (none = all). Moves entries (oldest run-at first, looking at the
 * first 1000) as "<score>\t<member>"; entries that are not JSON are moved too, so
 * the bridge rejects them visibly.
 */
const MOVE_SCHEDULED = `
local items = redis.call('ZRANGE', KEYS[1], 0, 999, 'WITHSCORES')
local limit = tonumber(ARGV[1])
local all = #ARGV < 2
local allowed = {}
for i = 2, #ARGV do allowed[ARGV[i]] = true end
local moved = 0
for i = 1, #items, 2 do
  if moved >= limit then break end
  local take = all
  if not take then
    local ok, p = pcall(cjson.decode, items[i])
    take = (not ok) or type(p) ~= 'table' or allowed[p['queue']] == true
  end
  if take then
    redis.call('ZREM', KEYS[1], items[i])
    redis.call('LPUSH', KEYS[2], items[i + 1] .. '\\t' .. items[i])
    moved = moved + 1
  end
end
return moved`;

/** Moves up to SCHEDULE_BATCH scheduled entries (of `queues`, or all) into a processing list; returns how many. */
export async function moveScheduled(conn: RedisConnection, processing: string, queues: readonly string[]): Promise<number> {
  return Number(await conn.eval(MOVE_SCHEDULED, 2, foreignKeys.sidekiqSchedule, processing, SCHEDULE_BATCH, ...queues));
}
