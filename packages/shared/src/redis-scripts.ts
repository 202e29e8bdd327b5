import type { Result } from 'ioredis'
import type { RedisClient } from './redis-connection.ts'
import { OWNER_SEPARATOR, PENDING_GENERATION } from './redis-keys.ts'

// The worker id of an owner value, in Lua (see encodeOwner / decodeOwner).
const OWNER_WORKER = `'^([^${OWNER_SEPARATOR}]*)${OWNER_SEPARATOR}'`
const LUA_NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/** What `wssClaim` answers. */
export const ClaimResult = {
  /** The owner key names this worker now (generation pending until confirmed). */
  Granted: 1,
  /** Another worker whose lease runs owns the session. */
  OwnedElsewhere: 0,
  /** This worker's own lease has lapsed: it may not claim anything. */
  NotLive: -1,
  /** The registry is new (Redis lost its data): no claim until every old owner had time to stop or set its sessions back. */
  RegistryNew: -2,
  /** The owner changed since the caller read it (its owned set was not the one passed): read again. */
  OwnerChanged: -3
} as const
export type ClaimResult = (typeof ClaimResult)[keyof typeof ClaimResult]

// A worker's lease runs while its score in the workers zset (KEYS[i]) is later than now.
const LUA_ALIVE = `
local function alive (workers, id, now)
  local s = redis.call('ZSCORE', workers, id)
  return s and tonumber(s) > now
end`

// A pending entry of the pending hash: `count:untilMs`; past its time it counts nothing.
const LUA_PENDING = `
local function pending (value, now)
  if not value then return 0 end
  local n, untilMs = string.match(value, '^(%d+):(%d+)$')
  if not n or tonumber(untilMs) <= now then return 0 end
  return tonumber(n)
end`

/**
 * The Lua scripts of the ownership registry, each registered once per connection by
 * {@link registerScripts}. Every key a script touches arrives in KEYS (all under the deployment's
 * hash tag, so one cluster slot); time is Redis' own (`TIME`), never a worker's clock.
 */
const SCRIPTS = {
  /**
   * KEYS: workers zset, worker-info hash, epoch key. ARGV: worker id, lease ms, info JSON.
   * Renews the worker's lease to now + lease ms, stores its info, creates the registry epoch when
   * absent. 1 when the lease was still running before this renewal, 0 when it had lapsed or was gone.
   */
  wssRenew: {
    numberOfKeys: 3,
    lua: `${LUA_NOW}${LUA_ALIVE}
local was = alive(KEYS[1], ARGV[1], now) and 1 or 0
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('SET', KEYS[3], now) end
return was`
  },
  /**
   * KEYS: owner key, epoch key, workers zset, this worker's owned set, the current owner's owned set
   * (this worker's when none). ARGV: worker id, session id, epoch grace ms, the current owner's id as
   * the caller read it ('' for none). Takes the owner key when it is free, names this worker already,
   * or names a worker whose lease lapsed; marks it pending until the Postgres generation is known. A
   * new registry (no epoch) grants nothing for the grace, so every live old owner notices first: it
   * sets its sessions back (`wssReassert`; then they are owned elsewhere) or stops them.
   */
  wssClaim: {
    numberOfKeys: 5,
    lua: `${LUA_NOW}${LUA_ALIVE}
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  redis.call('SET', KEYS[2], now)
  return ${ClaimResult.RegistryNew}
end
if now - tonumber(epoch) < tonumber(ARGV[3]) then return ${ClaimResult.RegistryNew} end
local cur = redis.call('GET', KEYS[1])
local w = cur and string.match(cur, ${OWNER_WORKER}) or ''
if w ~= ARGV[4] then return ${ClaimResult.OwnerChanged} end
if w ~= '' and w ~= ARGV[1] then
  if alive(KEYS[3], w, now) then return ${ClaimResult.OwnedElsewhere} end
  redis.call('SREM', KEYS[5], ARGV[2])
end
if not alive(KEYS[3], ARGV[1], now) then return ${ClaimResult.NotLive} end
redis.call('SET', KEYS[1], ARGV[1] .. '${OWNER_SEPARATOR}${PENDING_GENERATION}')
redis.call('SADD', KEYS[4], ARGV[2])
return ${ClaimResult.Granted}`
  },
  /**
   * KEYS: epoch key, workers zset, this worker's owned set, then one owner key per session. ARGV:
   * worker id, epoch grace ms, then the session id and the generation this worker holds for each
   * owner key, in the same order. After Redis lost its data, a live worker keeps its sessions: only
   * while the registry is new (`now - epoch < grace`: no claim has been granted since the loss) and
   * this worker's lease runs, sets each owner key that is absent or names this worker back to
   * `worker|generation` and adds the session to the owned set. Answers the session ids set back
   * (none once the grace is over, or with no epoch: a newer loss).
   */
  wssReassert: {
    lua: `${LUA_NOW}${LUA_ALIVE}
local epoch = redis.call('GET', KEYS[1])
if not epoch or now - tonumber(epoch) >= tonumber(ARGV[2]) or not alive(KEYS[2], ARGV[1], now) then return {} end
local kept = {}
for i = 4, #KEYS do
  local session, generation = ARGV[2 * i - 5], ARGV[2 * i - 4]
  local cur = redis.call('GET', KEYS[i])
  if not cur or string.match(cur, ${OWNER_WORKER}) == ARGV[1] then
    redis.call('SET', KEYS[i], ARGV[1] .. '${OWNER_SEPARATOR}' .. generation)
    redis.call('SADD', KEYS[3], session)
    table.insert(kept, session)
  end
end
return kept`
  },
  /** KEYS: owner key. ARGV: worker id, generation. Sets the generation only while this worker holds the claim; 1 when set. */
  wssConfirm: {
    numberOfKeys: 1,
    lua: `
local cur = redis.call('GET', KEYS[1])
if cur and string.match(cur, ${OWNER_WORKER}) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1] .. '${OWNER_SEPARATOR}' .. ARGV[2])
  return 1
end
return 0`
  },
  /** KEYS: owner key, owned set. ARGV: worker id, session id. Drops the owner key if it names this worker. */
  wssRelease: {
    numberOfKeys: 2,
    lua: `
local cur = redis.call('GET', KEYS[1])
if cur and string.match(cur, ${OWNER_WORKER}) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('SREM', KEYS[2], ARGV[2])
return 1`
  },
  /**
   * KEYS: workers zset, worker-info hash, pending hash. ARGV: pending TTL ms. Picks the live worker
   * with the fewest sessions, counting those assigned to it and not started yet (its published load
   * lags behind), and counts this assignment too. Nil when no worker is alive.
   */
  wssAssign: {
    numberOfKeys: 3,
    lua: `${LUA_NOW}${LUA_PENDING}
local best, bestLoad, bestPending = nil, nil, 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  local ok, info = pcall(cjson.decode, redis.call('HGET', KEYS[2], id) or '')
  local n = pending(redis.call('HGET', KEYS[3], id), now)
  local load = ((ok and type(info) == 'table' and tonumber(info.load)) or 0) + n
  if bestLoad == nil or load < bestLoad or (load == bestLoad and id < best) then best, bestLoad, bestPending = id, load, n end
end
if best then redis.call('HSET', KEYS[3], best, (bestPending + 1) .. ':' .. (now + tonumber(ARGV[1]))) end
return best`
  },
  /** KEYS: pending hash. ARGV: worker id. A worker started a session it was assigned: one fewer pending. */
  wssSettle: {
    numberOfKeys: 1,
    lua: `${LUA_NOW}${LUA_PENDING}
local value = redis.call('HGET', KEYS[1], ARGV[1])
local n = pending(value, now)
if n > 1 then
  redis.call('HSET', KEYS[1], ARGV[1], (n - 1) .. ':' .. string.match(value, ':(%d+)$'))
elseif value then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return n`
  },
  /** KEYS: workers zset. The ms left on the running lease that ends first; -1 when none runs. */
  wssNextExpiry: {
    numberOfKeys: 1,
    lua: `${LUA_NOW}
local first = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if #first == 0 then return -1 end
return tonumber(first[2]) - now`
  },
  /**
   * KEYS: workers zset, worker-info hash. ARGV: worker ids (none: every registered worker).
   * Answers `[id, ms left on its lease (0 once lapsed), info JSON ('' when none)]` per registered worker.
   */
  wssWorkers: {
    numberOfKeys: 2,
    lua: `${LUA_NOW}
local ids = ARGV
if #ids == 0 then ids = redis.call('ZRANGE', KEYS[1], 0, -1) end
local out = {}
for _, id in ipairs(ids) do
  local s = redis.call('ZSCORE', KEYS[1], id)
  if s then
    table.insert(out, id)
    table.insert(out, math.max(0, tonumber(s) - now))
    table.insert(out, redis.call('HGET', KEYS[2], id) or '')
  end
end
return out`
  },
  /** KEYS: lock key. ARGV: holder. Deletes the lock only while it still names its holder; 1 when deleted. */
  wssUnlock: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`
  }
} as const

declare module 'ioredis' {
  interface RedisCommander<Context> {
    wssRenew (workersKey: string, workerInfoKey: string, epochKey: string, workerId: string, leaseMs: number, info: string): Result<0 | 1, Context>
    wssClaim (ownerKey: string, epochKey: string, workersKey: string, ownedKey: string, currentOwnedKey: string, workerId: string, sessionId: string, graceMs: number, currentOwner: string): Result<ClaimResult, Context>
    /** Variadic: the number of keys first (3 + one owner key per session), then the keys, then the arguments. */
    wssReassert (numberOfKeys: number, ...keysThenArgs: Array<string | number>): Result<string[], Context>
    wssConfirm (ownerKey: string, workerId: string, generation: string): Result<0 | 1, Context>
    wssRelease (ownerKey: string, ownedKey: string, workerId: string, sessionId: string): Result<1, Context>
    wssAssign (workersKey: string, workerInfoKey: string, pendingKey: string, pendingTtlMs: number): Result<string | null, Context>
    wssSettle (pendingKey: string, workerId: string): Result<number, Context>
    wssNextExpiry (workersKey: string): Result<number, Context>
    wssWorkers (workersKey: string, workerInfoKey: string, ...workerIds: string[]): Result<Array<string | number>, Context>
    wssUnlock (lockKey: string, holder: string): Result<0 | 1, Context>
  }
}

/**
 * Registers the registry's scripts on a connection or cluster client (EVALSHA, loaded once per
 * connection by ioredis); a second call on the same client does nothing.
 */
export function registerScripts<C extends RedisClient> (redis: C): C {
  for (const [name, definition] of Object.entries(SCRIPTS)) {
    if (typeof (redis as unknown as Record<string, unknown>)[name] !== 'function') redis.defineCommand(name, definition)
  }
  return redis
}
