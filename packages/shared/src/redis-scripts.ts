import type { Redis, Result } from 'ioredis'
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
  /** Another worker whose liveness key exists owns the session. */
  OwnedElsewhere: 0,
  /** This worker's own liveness key is gone: it may not claim anything. */
  NotLive: -1,
  /** The registry is new (Redis lost its data): no claim until every old owner had time to stop. */
  RegistryNew: -2
} as const
export type ClaimResult = (typeof ClaimResult)[keyof typeof ClaimResult]

/** The Lua scripts of the ownership registry, each registered once per connection by {@link registerScripts}. */
const SCRIPTS = {
  /**
   * KEYS: owner key, epoch key. ARGV: worker id, liveness key prefix, owned-set prefix, session id,
   * epoch grace ms. Takes the owner key when it is free, names this worker already, or names a worker
   * whose liveness key has expired; marks it pending until the Postgres generation is known. A new
   * registry (no epoch) grants nothing for the grace, so every old owner notices and stops first.
   */
  wssClaim: {
    numberOfKeys: 2,
    lua: `${LUA_NOW}
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  redis.call('SET', KEYS[2], now)
  return ${ClaimResult.RegistryNew}
end
if now - tonumber(epoch) < tonumber(ARGV[5]) then return ${ClaimResult.RegistryNew} end
local cur = redis.call('GET', KEYS[1])
if cur then
  local w = string.match(cur, ${OWNER_WORKER})
  if w ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. w) == 1 then return ${ClaimResult.OwnedElsewhere} end
  if w and w ~= ARGV[1] then redis.call('SREM', ARGV[3] .. w, ARGV[4]) end
end
if redis.call('EXISTS', ARGV[2] .. ARGV[1]) == 0 then return ${ClaimResult.NotLive} end
redis.call('SET', KEYS[1], ARGV[1] .. '${OWNER_SEPARATOR}${PENDING_GENERATION}')
redis.call('SADD', ARGV[3] .. ARGV[1], ARGV[4])
return ${ClaimResult.Granted}`
  },
  /** KEYS: epoch key. Creates the registry epoch from Redis' own clock (claims compare against it). */
  wssEpoch: {
    numberOfKeys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then${LUA_NOW}
  redis.call('SET', KEYS[1], now)
end
return 1`
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
   * KEYS: workers set. ARGV: liveness key prefix, pending prefix, pending TTL ms. Picks the live
   * worker with the fewest sessions, counting those assigned to it and not started yet (its published
   * load lags behind), and counts this assignment too. Nil when no worker is alive.
   */
  wssAssign: {
    numberOfKeys: 1,
    lua: `
local best, bestLoad = nil, nil
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', ARGV[1] .. id)
  if v then
    local ok, info = pcall(cjson.decode, v)
    local load = (ok and type(info) == 'table' and tonumber(info.load)) or 0
    load = load + (tonumber(redis.call('GET', ARGV[2] .. id)) or 0)
    if bestLoad == nil or load < bestLoad or (load == bestLoad and id < best) then best, bestLoad = id, load end
  end
end
if best then
  redis.call('INCR', ARGV[2] .. best)
  redis.call('PEXPIRE', ARGV[2] .. best, ARGV[3])
end
return best`
  },
  /** KEYS: a pending counter. A worker started a session it was assigned: one fewer pending. */
  wssSettle: {
    numberOfKeys: 1,
    lua: `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return n`
  },
  /** KEYS: workers set. ARGV: liveness key prefix. The ms left on the listed liveness key that expires first; -1 when none counts down. */
  wssNextExpiry: {
    numberOfKeys: 1,
    lua: `
local best = -1
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local left = redis.call('PTTL', ARGV[1] .. id)
  if left > 0 and (best < 0 or left < best) then best = left end
end
return best`
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
    wssClaim (ownerKey: string, epochKey: string, workerId: string, workerKeyPrefix: string, ownedKeyPrefix: string, sessionId: string, graceMs: number): Result<ClaimResult, Context>
    wssEpoch (epochKey: string): Result<1, Context>
    wssConfirm (ownerKey: string, workerId: string, generation: string): Result<0 | 1, Context>
    wssRelease (ownerKey: string, ownedKey: string, workerId: string, sessionId: string): Result<1, Context>
    wssAssign (workersKey: string, workerKeyPrefix: string, pendingKeyPrefix: string, pendingTtlMs: number): Result<string | null, Context>
    wssSettle (pendingKey: string): Result<number, Context>
    wssNextExpiry (workersKey: string, workerKeyPrefix: string): Result<number, Context>
    wssUnlock (lockKey: string, holder: string): Result<0 | 1, Context>
  }
}

/**
 * Registers the registry's scripts on a connection (EVALSHA, loaded once per connection by
 * ioredis); a second call on the same connection does nothing.
 */
export function registerScripts (redis: Redis): Redis {
  for (const [name, definition] of Object.entries(SCRIPTS)) {
    if (typeof (redis as unknown as Record<string, unknown>)[name] !== 'function') redis.defineCommand(name, definition)
  }
  return redis
}
