import type { Redis } from 'ioredis'

/**
 * The read side of session ownership (keys written by the workers' ownership module):
 * `{p}:worker:{id}` liveness with TTL, `{p}:workers` the set of known workers,
 * `{p}:owner:{sessionId}` = "workerId|generation", `{p}:owned:{workerId}` a worker's sessions.
 */
export interface OwnerRecord { workerId: string, generation: bigint | null, alive: boolean }

/** A worker whose liveness key exists, with the number of sessions it runs. */
export interface LiveWorker { id: string, load: number, info: Record<string, unknown> }

// Picks the live worker with the fewest sessions, counting the sessions assigned to it that it has
// not started yet (its published load lags behind), and counts this assignment too.
const ASSIGN = `
local ids = redis.call('SMEMBERS', KEYS[1])
local best, bestLoad = nil, nil
for _, id in ipairs(ids) do
  local v = redis.call('GET', ARGV[1] .. ':worker:' .. id)
  if v then
    local ok, info = pcall(cjson.decode, v)
    local load = (ok and type(info) == 'table' and tonumber(info.load)) or 0
    load = load + (tonumber(redis.call('GET', ARGV[1] .. ':pending:' .. id)) or 0)
    if bestLoad == nil or load < bestLoad or (load == bestLoad and id < best) then best, bestLoad = id, load end
  end
end
if best then
  redis.call('INCR', ARGV[1] .. ':pending:' .. best)
  redis.call('PEXPIRE', ARGV[1] .. ':pending:' .. best, ARGV[2])
end
return best
`
// The time left (ms) on the listed liveness key that expires first; -1 when none has a TTL.
const NEXT_EXPIRY = `
local best = -1
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local left = redis.call('PTTL', ARGV[1] .. ':worker:' .. id)
  if left > 0 and (best < 0 or left < best) then best = left end
end
return best
`
// Deletes a lock only while it still names its holder (it may have expired and been taken since).
const UNLOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`
const SETTLE = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return n
`

/** Read-only view of the registry, used by the API and by the orphan sweep. */
export function createOwnerRegistry (redis: Redis, prefix: string) {
  const parse = (value: string | null, alive: boolean): OwnerRecord | null => {
    if (!value) return null
    const [workerId, gen] = value.split('|')
    return { workerId: workerId!, generation: gen && gen !== 'pending' ? BigInt(gen) : null, alive }
  }
  return {
    /** Live workers with their load (sessions run). */
    async liveWorkers (): Promise<LiveWorker[]> {
      const ids = await redis.smembers(`${prefix}:workers`)
      if (!ids.length) return []
      const values = await redis.mget(ids.map(id => `${prefix}:worker:${id}`))
      const out: LiveWorker[] = []
      ids.forEach((id, i) => {
        const v = values[i]
        if (!v) return
        const info = JSON.parse(v) as Record<string, unknown>
        out.push({ id, load: Number(info.load ?? 0), info })
      })
      return out
    },

    /** Workers still listed whose liveness expired. */
    async deadWorkers (): Promise<string[]> {
      const ids = await redis.smembers(`${prefix}:workers`)
      if (!ids.length) return []
      const values = await redis.mget(ids.map(id => `${prefix}:worker:${id}`))
      return ids.filter((_, i) => !values[i])
    },

    /** The owners of many sessions in two round trips. */
    async owners (sessionIds: string[]): Promise<Map<string, OwnerRecord | null>> {
      const out = new Map<string, OwnerRecord | null>()
      if (!sessionIds.length) return out
      const values = await redis.mget(sessionIds.map(id => `${prefix}:owner:${id}`))
      const workerIds = [...new Set(values.filter((v): v is string => !!v).map(v => v.split('|')[0]!))]
      const alive = new Set<string>()
      if (workerIds.length) {
        const w = await redis.mget(workerIds.map(id => `${prefix}:worker:${id}`))
        workerIds.forEach((id, i) => { if (w[i]) alive.add(id) })
      }
      sessionIds.forEach((id, i) => {
        const v = values[i] ?? null
        out.set(id, parse(v, !!v && alive.has(v.split('|')[0]!)))
      })
      return out
    },

    async owner (sessionId: string) {
      return (await this.owners([sessionId])).get(sessionId) ?? null
    },

    /** Sessions a (dead) worker owned. */
    ownedBy (workerId: string) { return redis.smembers(`${prefix}:owned:${workerId}`) },

    /** Forgets a dead worker once its sessions and commands were handed over. */
    async forgetWorker (workerId: string) {
      await redis.multi().srem(`${prefix}:workers`, workerId).del(`${prefix}:owned:${workerId}`).exec()
    },

    /**
     * Assigns a session without a live owner to the least-loaded live worker, counting assignments
     * it has not started yet (so a burst of new sessions spreads out). Undefined when none is alive.
     */
    async assign (): Promise<string | undefined> {
      const id = await redis.eval(ASSIGN, 1, `${prefix}:workers`, prefix, '60000') as string | null
      return id ?? undefined
    },

    /** A worker started a session it was assigned: one fewer pending. */
    async settle (workerId: string) {
      await redis.eval(SETTLE, 1, `${prefix}:pending:${workerId}`)
    },

    /** A short exclusive lock (reaping a dead worker, sweeping orphans). */
    async lock (name: string, holder: string, ttlMs: number) {
      return (await redis.set(`${prefix}:lock:${name}`, holder, 'PX', ttlMs, 'NX')) === 'OK'
    },

    /**
     * In how many ms the first listed worker's liveness lapses (a dead worker's key runs out; a live
     * one's is renewed before), or undefined when no key is counting down.
     */
    async nextLeaseExpiry (): Promise<number | undefined> {
      const left = Number(await redis.eval(NEXT_EXPIRY, 1, `${prefix}:workers`, prefix))
      return left > 0 ? left : undefined
    },

    /** Releases a lock before its TTL, if `holder` still holds it; false otherwise. */
    async unlock (name: string, holder: string): Promise<boolean> {
      return (await redis.eval(UNLOCK, 1, `${prefix}:lock:${name}`, holder)) === 1
    }
  }
}

export type OwnerRegistry = ReturnType<typeof createOwnerRegistry>

/** Picks the least-loaded worker, counting assignments made in this round. */
export function leastLoaded (workers: LiveWorker[], assigned: Map<string, number> = new Map()): LiveWorker | undefined {
  let best: LiveWorker | undefined
  let bestLoad = Infinity
  for (const w of workers) {
    const load = w.load + (assigned.get(w.id) ?? 0)
    if (load < bestLoad || (load === bestLoad && best && w.id < best.id)) { best = w; bestLoad = load }
  }
  if (best) assigned.set(best.id, (assigned.get(best.id) ?? 0) + 1)
  return best
}
