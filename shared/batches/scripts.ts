/**
 * The batches' Lua scripts (keys: ./keys.ts). Each runs on the batch's home
 * slot; the trackers of the batch's queues are named inside the script from
 * the meta's queue list — on Redis Cluster a batch has one queue (its home),
 * so every key a script touches is in one hash slot; on a single primary
 * (Sentinel or not) a batch may span queues.
 *
 * Exactly once: SETTLE reads the ledger BullMQ keeps in the trackers (a
 * child's completion or final failure is recorded there by BullMQ's own
 * moveToFinished, atomically with the job's state), derives the counts, and
 * marks each callback whose condition holds and that has not fired ("fired:<kind>"
 * in the meta) — in one script, so two workers settling at the same moment, a
 * settle retried after a lost reply, or the sweeper settling after a kill -9
 * all find the mark of the first and fire nothing. A fired callback is put in
 * the outbox in the same script; the caller enqueues it with a job id made
 * from the batch and the kind (a second enqueue adds nothing) and then ACKs it.
 */

/** Shared Lua: the counts of a batch from its meta and its trackers' ledgers. */
const COUNT = `
local rcall = redis.call
local function tq(q) return 'conveyor:{' .. q .. '}.batches:' end
local function readMeta(meta)
  local flat = rcall('HGETALL', meta)
  local m = {}
  for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end
  return m
end
-- Counts over the batch's queues. retrying: children that failed an attempt and are still pending
-- (members that finished since are pruned when prune is true). failedList: up to limit {queue, id, reason}.
local function count(m, limit, prune)
  local id = m['id']
  local queues = cjson.decode(m['queues'])
  local c = { deps = 0, succ = 0, dead = 0, retrying = 0, failed = {} }
  for _, q in ipairs(queues) do
    local t = tq(q) .. id
    local depKey = t .. ':dependencies'
    c.deps = c.deps + rcall('SCARD', depKey)
    c.succ = c.succ + rcall('HLEN', t .. ':processed')
    local fk = t .. ':failed'
    c.dead = c.dead + rcall('HLEN', fk)
    local rk = t .. ':retrying'
    for _, member in ipairs(rcall('SMEMBERS', rk)) do
      if rcall('SISMEMBER', depKey, member) == 1 then c.retrying = c.retrying + 1
      elseif prune then rcall('SREM', rk, member) end
    end
    if #c.failed < limit then
      local skip = string.len('conveyor:{' .. q .. '}:')
      local cursor = '0'
      repeat
        local r = rcall('HSCAN', fk, cursor, 'COUNT', 100)
        cursor = r[1]
        local kv = r[2]
        for i = 1, #kv, 2 do
          if #c.failed < limit then
            table.insert(c.failed, { q, string.sub(kv[i], skip + 1), string.sub(kv[i + 1], 1, 1000) })
          end
        end
      until cursor == '0' or #c.failed >= limit
    end
  end
  c.total = tonumber(m['total']) or 0
  -- A child removed by hand (not finished) left the ledger: it counts as dead, so the counts add up.
  local lost = c.total - c.deps - c.succ - c.dead
  if lost > 0 then c.dead = c.dead + lost end
  c.pending = c.deps - c.retrying
  return c
end
local function countChildren(childrenKey)
  local p, cc, s = 0, 0, 0
  for _, st in ipairs(rcall('HVALS', childrenKey)) do
    if st == 's' then s = s + 1 elseif st == 'c' then cc = cc + 1 else p = p + 1 end
  end
  return p, cc, s
end
`;

/**
 * SETTLE / STATUS / SEAL.
 * KEYS[1] meta, KEYS[2] children, KEYS[3] outbox.
 * ARGV[1] now (ms), ARGV[2] mode: "status" (read only), "settle", "seal" (seal, then settle), "tick" (settle, short answer:
 * { state, unfinished jobs, outbox (flat) if not empty } — a worker after a job finished), ARGV[3] failed list limit.
 * Returns nil for an unknown batch, else
 * { state, total, pending, failed, succeeded, dead, childPending, childCompleted, childSucceeded, meta (flat), outbox (flat), failed list }.
 */
export const SETTLE = `${COUNT}
local meta, childrenKey, outbox = KEYS[1], KEYS[2], KEYS[3]
local now = tonumber(ARGV[1])
local mode = ARGV[2]
local limit = tonumber(ARGV[3])
local write = mode ~= 'status'
if rcall('EXISTS', meta) == 0 then return false end
if mode == 'seal' and rcall('HGET', meta, 'sealed') ~= '1' then
  rcall('HSET', meta, 'sealed', '1', 'sealedAt', now)
end
local m = readMeta(meta)
-- "tick" (a worker after a job finished): the failed list only if a callback fires; a short answer.
local tick = mode == 'tick'
local c = count(m, tick and 0 or limit, write)
local cp, cc, cs = countChildren(childrenKey)
local sealed = m['sealed'] == '1'
local finished = c.deps == 0 and cp == 0
local success = finished and c.dead == 0 and cc == 0
local state = 'open'
if sealed then
  if not finished then state = 'running' elseif success then state = 'succeeded' else state = 'completed' end
end
if write then
  local id = m['id']
  local function fire(kind)
    local spec = m['cb:' .. kind]
    if not spec or m['fired:' .. kind] then return end
    rcall('HSET', meta, 'fired:' .. kind, now)
    if tick and #c.failed == 0 and c.dead > 0 then c.failed = count(m, limit, false).failed end
    local failed = {}
    for _, f in ipairs(c.failed) do table.insert(failed, { queue = f[1], id = f[2], error = f[3] }) end
    local data = {
      batchId = id, event = kind, description = m['description'], failed = failed,
      counts = { total = c.total, pending = c.pending, failed = c.retrying, succeeded = c.succ, dead = c.dead },
    }
    rcall('HSET', outbox, kind, cjson.encode({ kind = kind, spec = cjson.decode(spec), data = data, at = now }))
  end
  if c.dead > 0 then fire('death') end
  if sealed and finished then
    if not m['completedAt'] then rcall('HSET', meta, 'completedAt', now) end
    fire('complete')
    if success then
      if not m['succeededAt'] then rcall('HSET', meta, 'succeededAt', now) end
      fire('success')
    end
    if m['parent'] then
      local st = 'c'
      if success then st = 's' end
      if m['notified'] ~= st then
        rcall('HSET', meta, 'notified', st)
        rcall('HSET', outbox, 'parent', cjson.encode({ kind = 'parent', parent = m['parent'], parentHome = m['parentHome'], child = id, state = st, at = now }))
      end
    end
  end
  local member = id .. '@' .. m['home']
  local pendingOut = rcall('HLEN', outbox)
  local done = sealed and finished and pendingOut == 0
  for _, q in ipairs(cjson.decode(m['queues'])) do
    local openKey = tq(q) .. 'open'
    if done then rcall('ZREM', openKey, member)
    else
      local delay = 5000
      if pendingOut > 0 then delay = 2000 elseif not sealed then delay = 60000 end
      -- Written only when it moves the next look by more than a second (a settle per finished job would rewrite it each time).
      local cur = tonumber(rcall('ZSCORE', openKey, member))
      if not cur or cur > now + delay or cur < now + delay - 1000 then rcall('ZADD', openKey, now + delay, member) end
    end
  end
  if done then rcall('ZADD', tq(m['home']) .. 'done', 'NX', now, id) else rcall('ZREM', tq(m['home']) .. 'done', id) end
  if tick then
    if pendingOut == 0 then return { state, c.deps } end
    return { state, c.deps, rcall('HGETALL', outbox) }
  end
end
local failedFlat = {}
for _, f in ipairs(c.failed) do table.insert(failedFlat, f) end
return { state, c.total, c.pending, c.retrying, c.succ, c.dead, cp, cc, cs, rcall('HGETALL', meta), rcall('HGETALL', outbox), failedFlat }
`;

/**
 * INIT: the meta of a new batch, in the creating MULTI after its trackers and jobs.
 * KEYS[1] meta. ARGV[1] now, ARGV[2..] field, value, ...
 */
export const INIT = `
local rcall = redis.call
local meta = KEYS[1]
local now = tonumber(ARGV[1])
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
rcall('HSET', meta, unpack(fields))
local m = {}
for i = 1, #fields, 2 do m[fields[i]] = fields[i + 1] end
local delay = 5000
if m['sealed'] ~= '1' then delay = 60000 end
for _, q in ipairs(cjson.decode(m['queues'])) do
  rcall('ZADD', 'conveyor:{' .. q .. '}.batches:open', now + delay, m['id'] .. '@' .. m['home'])
end
return 1
`;

/**
 * GUARD (first command of an add's MULTI): when the batch is sealed or gone,
 * each of its trackers is renamed away for the rest of the transaction, so
 * every child add that follows finds no parent and adds nothing (BullMQ's add
 * scripts answer -5); RESTORE (last command) renames them back.
 * KEYS[1] meta. ARGV[1] batch id, ARGV[2..] queues of the add.
 */
export const GUARD = `
local rcall = redis.call
local meta = KEYS[1]
if rcall('EXISTS', meta) == 1 and rcall('HGET', meta, 'sealed') ~= '1' then return 1 end
for i = 2, #ARGV do
  local t = 'conveyor:{' .. ARGV[i] .. '}.batches:' .. ARGV[1]
  if rcall('EXISTS', t) == 1 then rcall('RENAME', t, t .. ':held') end
end
return 0
`;

/**
 * RESTORE: KEYS[1] meta. ARGV[1] batch id, ARGV[2] jobs added, ARGV[3] now,
 * ARGV[4] JSON array of queues new to the batch, ARGV[5..] queues of the add.
 * Returns the batch's new total when the jobs were added (total and queues updated), -1 when GUARD refused.
 */
export const RESTORE = `
local rcall = redis.call
local meta = KEYS[1]
local id = ARGV[1]
local n = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local fresh = cjson.decode(ARGV[4])
local held = false
for i = 5, #ARGV do
  local t = 'conveyor:{' .. ARGV[i] .. '}.batches:' .. id
  if rcall('EXISTS', t .. ':held') == 1 then
    rcall('RENAME', t .. ':held', t)
    held = true
  end
end
if held or rcall('EXISTS', meta) == 0 or rcall('HGET', meta, 'sealed') == '1' then
  -- Trackers made for this add on queues new to the batch hold nothing: remove them.
  for _, q in ipairs(fresh) do
    local t = 'conveyor:{' .. q .. '}.batches:' .. id
    if rcall('SCARD', t .. ':dependencies') == 0 and rcall('HLEN', t .. ':processed') == 0 and rcall('HLEN', t .. ':failed') == 0 then
      rcall('DEL', t)
      rcall('ZREM', 'conveyor:{' .. q .. '}.batches:waiting-children', id)
    end
  end
  return -1
end
local total = rcall('HINCRBY', meta, 'total', n)
local home = rcall('HGET', meta, 'home')
if #fresh > 0 then
  local queues = cjson.decode(rcall('HGET', meta, 'queues'))
  for _, q in ipairs(fresh) do table.insert(queues, q) end
  rcall('HSET', meta, 'queues', cjson.encode(queues))
end
for i = 5, #ARGV do
  rcall('ZADD', 'conveyor:{' .. ARGV[i] .. '}.batches:open', now + 60000, id .. '@' .. home)
end
return total
`;

/**
 * ACK: a fired callback (or a parent notification) was delivered.
 * KEYS[1] outbox, KEYS[2] meta. ARGV[1] kind, ARGV[2] the entry as read, ARGV[3] now.
 * Removes the entry only if it is still the one delivered (a parent notification may have been rewritten since).
 */
export const ACK = `
local rcall = redis.call
if rcall('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
rcall('HDEL', KEYS[1], ARGV[1])
if ARGV[1] ~= 'parent' and rcall('EXISTS', KEYS[2]) == 1 then rcall('HSET', KEYS[2], 'sent:' .. ARGV[1], ARGV[3]) end
return 1
`;

/**
 * CHILD_REGISTER: a nested batch joins its parent before it is created, so the
 * parent cannot complete without it. KEYS[1] parent meta, KEYS[2] parent children.
 * ARGV[1] child id. Returns 1, -1 (no such parent), -2 (the parent finished: nothing may join it).
 */
export const CHILD_REGISTER = `${COUNT}
if rcall('EXISTS', KEYS[1]) == 0 then return -1 end
local m = readMeta(KEYS[1])
local c = count(m, 0, false)
local cp = countChildren(KEYS[2])
if m['sealed'] == '1' and c.deps == 0 and cp == 0 then return -2 end
rcall('HSETNX', KEYS[2], ARGV[1], 'p')
return 1
`;

/** CHILD_FORGET: the nested batch could not be created. KEYS[1] parent children. ARGV[1] child id. */
export const CHILD_FORGET = `
if redis.call('HGET', KEYS[1], ARGV[1]) == 'p' then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1
`;

/**
 * CHILD_DONE: a nested batch completed (c) or succeeded (s). KEYS[1] parent children.
 * ARGV[1] child id, ARGV[2] state. A success is never taken back by a later "completed".
 */
export const CHILD_DONE = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur == 's' and ARGV[2] ~= 's' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;
