/**
 * The flow gate's Lua: per-key limits and round-robin between keys, in front
 * of BullMQ's wait list. Every key it touches is under the queue's BullMQ
 * prefix ("conveyor:{q}:flow:…"), in the queue's hash slot, so each call is
 * one atomic script on the queue's shard (Redis Cluster too).
 *
 * A job of a gated queue is stored by BullMQ as usual (its hash, its id, its
 * options) but, instead of waiting in BullMQ's wait list, it is *held* in its
 * key's sorted set (priority, then arrival). The gate *admits* held jobs into
 * BullMQ's wait list (or prioritized set) the way BullMQ's own promote script
 * does, round-robin over the keys that have both held jobs and room, while
 * BullMQ's wait list is shorter than the gate's buffer (so a key with 100,000
 * jobs never fills it ahead of a key with 10). A job keeps its key's slot from
 * admission until it finishes for good (completed, or failed with no attempts
 * left); a job waiting to retry keeps it. Nothing here runs a job: BullMQ
 * fetches, locks, retries and recovers stalled jobs as always.
 *
 * Keys (F = "conveyor:{q}:flow:"):
 *   F limits     the gate's limits (JSON {c?, r?: [max, perMs]}); absent = no gate
 *   F overrides  hash key → JSON {c?, r?} for named keys
 *   F held:<k>   zset of held job ids (score: priority·2^32 + arrival)
 *   F ring       list of keys with held jobs and room (the round-robin)
 *   F state      hash key → r (in the ring) | c (at its concurrency) | s (asleep: rate)
 *   F sleep      zset key → when its rate window opens (ms)
 *   F rate:<k>   admissions in the key's current rate window (PX = the window)
 *   F admitted   hash job id → key: the jobs holding a slot
 *   F running    hash key → slots held
 *   F backlog    zset key → held jobs (the dashboard's largest backlogs)
 *   F stats      hash: held (total), hits:key-concurrency, hits:key-rate
 *   F seq        arrival counter;  F cursor  the reconcile scan's cursor
 *
 * Idle keys (nothing held, nothing running) have no entry anywhere: the gate's
 * cost follows the keys with work, not the number of keys ever seen.
 */

/**
 * Shared by every script. ARGV[1] = the queue's BullMQ prefix ("conveyor:{q}:"),
 * ARGV[2] = buffer, ARGV[3] = now (ms, the caller's clock, as BullMQ's own
 * scripts take it: TIME is outside the ACL rule docs/operations.md gives).
 */
const COMMON = `
local rcall = redis.call
local base = ARGV[1]
local F = base .. 'flow:'
local BUFFER = tonumber(ARGV[2])
local MAX_STEPS = 2000
-- A key with a rate enters BullMQ's wait list only while fewer jobs than this
-- wait there: its rate counts admissions, and a short wait list keeps its
-- starts as far apart as its admissions.
local RATE_BUFFER = 64

local NOW = tonumber(ARGV[3])

local function gateLimits()
  local raw = rcall('GET', F .. 'limits')
  if not raw then return nil end
  return cjson.decode(raw)
end

-- A key's limits: its override's fields, else the queue's perKey ones.
local function limitsFor(pk, k)
  if not pk then return nil, nil, nil end
  local c, r = pk['c'], pk['r']
  if pk['o'] then
    local raw = rcall('HGET', F .. 'overrides', k)
    if raw then
      local o = cjson.decode(raw)
      if o['c'] then c = o['c'] end
      if o['r'] then r = o['r'] end
    end
  end
  if r then return c, r[1], r[2] end
  return c, nil, nil
end

local function pausedOrMaxed()
  local m = rcall('HMGET', base .. 'meta', 'paused', 'concurrency')
  if m[1] then return true end
  if m[2] then return rcall('LLEN', base .. 'active') >= tonumber(m[2]) end
  return false
end

local function hold(id, k, prio)
  local seq = rcall('INCR', F .. 'seq')
  rcall('ZADD', F .. 'held:' .. k, prio * 0x100000000 + seq % 0x100000000, id)
  rcall('ZINCRBY', F .. 'backlog', 1, k)
  rcall('HINCRBY', F .. 'stats', 'held', 1)
  if not rcall('HGET', F .. 'state', k) then
    rcall('HSET', F .. 'state', k, 'r')
    rcall('RPUSH', F .. 'ring', k)
  end
end

-- Into BullMQ's wait list or prioritized set, as BullMQ's promote script does.
local function admit(id, k, paused)
  local jobKey = base .. id
  local prio = rcall('HGET', jobKey, 'priority')
  if not prio then return false end -- removed while held
  prio = tonumber(prio) or 0
  if prio == 0 then
    rcall('LPUSH', base .. 'wait', id)
  else
    local pc = rcall('INCR', base .. 'pc')
    rcall('ZADD', base .. 'prioritized', prio * 0x100000000 + pc % 0x100000000, id)
  end
  if not paused then rcall('ZADD', base .. 'marker', 0, '0') end
  rcall('XADD', base .. 'events', 'MAXLEN', '~', 10000, '*', 'event', 'waiting', 'jobId', id, 'prev', 'held')
  rcall('HSET', F .. 'admitted', id, k)
  rcall('HINCRBY', F .. 'running', k, 1)
  return true
end

local function unhold(k)
  if tonumber(rcall('ZINCRBY', F .. 'backlog', -1, k)) <= 0 then rcall('ZREM', F .. 'backlog', k) end
  rcall('HINCRBY', F .. 'stats', 'held', -1)
end

-- Admits held jobs round-robin while BullMQ's wait list is shorter than the
-- buffer plus the jobs running now (a fleet at concurrency 200 needs more
-- jobs ready than one at 10; the bound a new key waits stays one round of the
-- running jobs plus the buffer).
local function pump(gl)
  local waiting = rcall('LLEN', base .. 'wait') + rcall('ZCARD', base .. 'prioritized')
  local budget = BUFFER + rcall('LLEN', base .. 'active') - waiting
  if budget <= 0 then return 0 end
  local paused = pausedOrMaxed()
  local n, steps, skipped = 0, 0, 0
  while budget > 0 and steps < MAX_STEPS do
    steps = steps + 1
    local k = rcall('LPOP', F .. 'ring')
    if not k then break end
    local hk = F .. 'held:' .. k
    local conc, rmax, rper = limitsFor(gl, k)
    local running = tonumber(rcall('HGET', F .. 'running', k) or '0')
    if rmax and waiting >= RATE_BUFFER then
      -- Its turn again once the wait list is short (a release or a tick pumps again).
      rcall('RPUSH', F .. 'ring', k)
      skipped = skipped + 1
      if skipped >= rcall('LLEN', F .. 'ring') then break end
    elseif conc and running >= conc then
      rcall('HSET', F .. 'state', k, 'c')
      rcall('HINCRBY', F .. 'stats', 'hits:key-concurrency', 1)
    else
      local rk = F .. 'rate:' .. k
      local used = 0
      if rmax then used = tonumber(rcall('GET', rk) or '0') end
      if rmax and used >= rmax then
        local ttl = rcall('PTTL', rk)
        if ttl < 0 then ttl = 0; rcall('DEL', rk) end
        rcall('ZADD', F .. 'sleep', NOW + ttl, k)
        rcall('HSET', F .. 'state', k, 's')
        rcall('HINCRBY', F .. 'stats', 'hits:key-rate', 1)
      else
        local e = rcall('ZPOPMIN', hk)
        if #e == 0 then
          rcall('HDEL', F .. 'state', k)
        else
          unhold(k)
          if admit(e[1], k, paused) then
            n = n + 1
            budget = budget - 1
            waiting = waiting + 1
            skipped = 0
            if rmax and rcall('INCR', rk) == 1 then rcall('PEXPIRE', rk, rper) end
          end
          if rcall('EXISTS', hk) == 1 then rcall('RPUSH', F .. 'ring', k) else rcall('HDEL', F .. 'state', k) end
        end
      end
    end
  end
  return n
end

-- A finished job gives its key's slot back; a key waiting on it rejoins the ring.
local function release(id)
  local k = rcall('HGET', F .. 'admitted', id)
  if not k then return 0 end
  rcall('HDEL', F .. 'admitted', id)
  if rcall('HINCRBY', F .. 'running', k, -1) <= 0 then rcall('HDEL', F .. 'running', k) end
  if rcall('HGET', F .. 'state', k) == 'c' then
    rcall('HSET', F .. 'state', k, 'r')
    rcall('RPUSH', F .. 'ring', k)
  end
  return 1
end
`;

/**
 * After BullMQ added a job (same MULTI): hold it in its key's set instead of
 * BullMQ's wait list, then admit what may run. A job BullMQ did not add (a
 * duplicate jobId, a throttled or debounced enqueue) or added as delayed is
 * left alone: the worker gates a delayed job when it comes due (START).
 * KEYS[1] = F limits. ARGV[4..] = id, key, priority (triples).
 */
export const PARK = `${COMMON}
local held = 0
for i = 4, #ARGV, 3 do
  local id, k, prio = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if rcall('EXISTS', base .. id) == 1 then
    local removed = 0
    if prio == 0 then removed = rcall('LREM', base .. 'wait', 1, id) else removed = rcall('ZREM', base .. 'prioritized', id) end
    if removed == 1 then
      hold(id, k, prio)
      held = held + 1
    end
  end
end
pump(gateLimits())
return held
`;

/** Jobs finished for good: release their slots, then admit. ARGV[4..] = job ids. */
export const RELEASE = `${COMMON}
local n = 0
for i = 4, #ARGV do n = n + release(ARGV[i]) end
pump(gateLimits())
return n
`;

/**
 * A worker took a job the gate did not admit (delayed, debounced, retried by an
 * operator, or enqueued before the queue had per-key limits). Admitted, or no
 * gate: 1 (run it). Otherwise it goes from BullMQ's active list back into the
 * gate, its lock dropped: 0 (the worker hands it over without an attempt).
 * ARGV[4] = id, ARGV[5] = key, ARGV[6] = priority.
 */
export const START = `${COMMON}
local id, k, prio = ARGV[4], ARGV[5], tonumber(ARGV[6])
if rcall('HEXISTS', F .. 'admitted', id) == 1 then return 1 end
local gl = gateLimits()
if not gl then return 1 end
if rcall('LREM', base .. 'active', 1, id) == 0 then return 1 end
rcall('DEL', base .. id .. ':lock')
hold(id, k, prio)
pump(gl)
return 0
`;

/**
 * The heartbeat of a gated queue (each worker, a few times a second): wake
 * keys whose rate window opened, give back slots of jobs that finished
 * without telling the gate (a worker killed before it could, a stalled job
 * failed by BullMQ's checker, a job removed by an operator), then admit.
 * ARGV[4] = how many admitted entries to re-check this time (0 = none).
 * Returns {gated 0/1, admitted now, held now, released by the check}.
 */
export const TICK = `${COMMON}
local due = rcall('ZRANGEBYSCORE', F .. 'sleep', '-inf', NOW, 'LIMIT', 0, 1000)
for _, k in ipairs(due) do
  rcall('ZREM', F .. 'sleep', k)
  if rcall('EXISTS', F .. 'held:' .. k) == 1 then
    rcall('HSET', F .. 'state', k, 'r')
    rcall('RPUSH', F .. 'ring', k)
  else
    rcall('HDEL', F .. 'state', k)
  end
end
local released = 0
local check = tonumber(ARGV[4])
if check > 0 and rcall('EXISTS', F .. 'admitted') == 1 then
  local r = rcall('HSCAN', F .. 'admitted', rcall('GET', F .. 'cursor') or '0', 'COUNT', check)
  rcall('SET', F .. 'cursor', r[1])
  local entries = r[2]
  for i = 1, #entries, 2 do
    local jobKey = base .. entries[i]
    if rcall('EXISTS', jobKey) == 0 or rcall('HEXISTS', jobKey, 'finishedOn') == 1 then
      released = released + release(entries[i])
    end
  end
end
local gl = gateLimits()
pump(gl)
local gated = 0
if gl then gated = 1 end
return {gated, rcall('HLEN', F .. 'admitted'), tonumber(rcall('HGET', F .. 'stats', 'held') or '0'), released}
`;

/**
 * The queue's limits changed: every key waiting on its concurrency or asleep
 * on its rate goes back into the ring, so raised limits let its jobs go now
 * (not at the key's next release), then admit. Once per change of limits; it
 * walks the keys with held jobs, never idle ones.
 */
export const WAKE = `${COMMON}
local cursor = '0'
repeat
  local r = rcall('HSCAN', F .. 'state', cursor, 'COUNT', 1000)
  cursor = r[1]
  local entries = r[2]
  for i = 1, #entries, 2 do
    local k, st = entries[i], entries[i + 1]
    if st == 'c' or st == 's' then
      if st == 's' then rcall('ZREM', F .. 'sleep', k) end
      rcall('HSET', F .. 'state', k, 'r')
      rcall('RPUSH', F .. 'ring', k)
    end
  end
until cursor == '0'
return pump(gateLimits())
`;

/**
 * What the gate holds, for the API, the dashboard and metrics (read only).
 * ARGV[3] = how many of the largest backlogs. Returns {held, admitted,
 * hits:key-concurrency, hits:key-rate, {key, held, running, state}…}.
 */
export const STATUS = `
local rcall = redis.call
local F = ARGV[1] .. 'flow:'
local stats = rcall('HMGET', F .. 'stats', 'held', 'hits:key-concurrency', 'hits:key-rate')
local out = {tonumber(stats[1] or '0'), rcall('HLEN', F .. 'admitted'), tonumber(stats[2] or '0'), tonumber(stats[3] or '0')}
local keys = rcall('ZREVRANGE', F .. 'backlog', 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')
for i = 1, #keys, 2 do
  local k = keys[i]
  out[#out + 1] = {k, tonumber(keys[i + 1]), tonumber(rcall('HGET', F .. 'running', k) or '0'), rcall('HGET', F .. 'state', k) or ''}
end
return out
`;

/** Where one job stands in the gate: {held 0/1, key state, admitted 0/1}. ARGV[2] = id, ARGV[3] = key. */
export const JOB_STATE = `
local rcall = redis.call
local F = ARGV[1] .. 'flow:'
local held = rcall('ZSCORE', F .. 'held:' .. ARGV[3], ARGV[2]) and 1 or 0
return {held, rcall('HGET', F .. 'state', ARGV[3]) or '', rcall('HEXISTS', F .. 'admitted', ARGV[2])}
`;
