import type { Redis } from 'ioredis'

export { createOwnerRegistry, leastLoaded, type OwnerRecord, type LiveWorker, type OwnerRegistry } from '@wss/shared'

/**
 * Session ownership across worker processes and hosts.
 *
 * - Liveness: each worker renews `{p}:worker:{id}` (TTL leaseTtlMs). One command per worker per
 *   renewal, whatever its number of sessions.
 * - Owner registry: `{p}:owner:{sessionId}` = "workerId|generation"; `{p}:owned:{workerId}` is the
 *   set of a worker's sessions. A session's lease holds while its owner's liveness key exists.
 * - Fencing: the generation comes from Postgres (the caller's claimGeneration), where every write
 *   of session state is checked against it.
 * - Self-fencing: a worker that could not renew for selfFenceAfterMs (< leaseTtlMs) stops all its
 *   sessions before its key can expire, so a new owner never overlaps with it.
 */
export interface OwnershipOptions {
  redis: Redis
  prefix: string
  workerId: string
  /** Extra facts published with the liveness key (host, pid). */
  info?: Record<string, unknown>
  leaseTtlMs?: number
  renewEveryMs?: number
  selfFenceAfterMs?: number
  /** Increments the session's fencing generation in Postgres; resolves null when the session is gone. */
  claimGeneration (sessionId: string): Promise<bigint | null>
  /** Sessions this worker must stop now (lease lost or taken over). */
  onLost (sessionIds: string[], reason: 'fenced' | 'taken-over'): void
  /** Called once renewals succeed again after a fence. */
  onRecovered? (): void
  /** Number of sessions this worker runs, published as its load. */
  load (): number
  onError? (err: unknown): void
}


// Takes the owner key when it is free, names this worker already, or names a worker whose
// liveness key has expired. Marks it "pending" until the Postgres generation is known.
// After Redis lost its data (a restart without persistence), the registry is empty while old owners
// may still hold sockets: no claim is granted until every worker has had a full lease to notice.
const CLAIM = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = redis.call('GET', ARGV[5])
if not epoch then
  redis.call('SET', ARGV[5], now)
  return -2
end
if now - tonumber(epoch) < tonumber(ARGV[6]) then return -2 end
local cur = redis.call('GET', KEYS[1])
if cur then
  local w = string.match(cur, '^([^|]*)|')
  if w ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. w) == 1 then return 0 end
  if w and w ~= ARGV[1] then redis.call('SREM', ARGV[3] .. w, ARGV[4]) end
end
if redis.call('EXISTS', ARGV[2] .. ARGV[1]) == 0 then return -1 end
redis.call('SET', KEYS[1], ARGV[1] .. '|pending')
redis.call('SADD', ARGV[3] .. ARGV[1], ARGV[4])
return 1
`
// Creates the registry epoch from Redis' own clock (claims compare against the same clock).
const EPOCH = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
return 1
`
// Sets the generation only if this worker still holds the claim.
const CONFIRM = `
local cur = redis.call('GET', KEYS[1])
if cur and string.match(cur, '^([^|]*)|') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2])
  return 1
end
return 0
`
const RELEASE = `
local cur = redis.call('GET', KEYS[1])
if cur and string.match(cur, '^([^|]*)|') == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('SREM', KEYS[2], ARGV[2])
return 1
`

/** Creates the ownership client of one worker process. */
export function createOwnership (opts: OwnershipOptions) {
  const { redis, prefix, workerId } = opts
  const leaseTtlMs = opts.leaseTtlMs ?? 8000
  const renewEveryMs = opts.renewEveryMs ?? Math.max(250, Math.floor(leaseTtlMs / 4))
  const selfFenceAfterMs = opts.selfFenceAfterMs ?? Math.max(leaseTtlMs - 2500, renewEveryMs * 2)
  const workerKey = (id: string) => `${prefix}:worker:${id}`
  const ownerKey = (sessionId: string) => `${prefix}:owner:${sessionId}`
  const ownedKey = (id: string) => `${prefix}:owned:${id}`
  const workersKey = `${prefix}:workers`
  const owned = new Map<string, bigint>()
  let lastRenewed = 0
  let fenced = false
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  const epochKey = `${prefix}:epoch`
  // Claims wait this long after the registry was (re)created: every live old owner renews within it,
  // finds its liveness key gone, and stops its sockets first.
  const epochGraceMs = renewEveryMs * 2 + 500
  /** Writes the liveness key (with the load); with `checkOwners`, also finds sessions another worker took over. */
  const renew = async (checkOwners = true) => {
    const value = JSON.stringify({ load: opts.load(), at: Date.now(), ...opts.info })
    const sentAt = Date.now()
    const results = await redis.multi()
      .set(workerKey(workerId), value, 'PX', leaseTtlMs, 'GET')
      .sadd(workersKey, workerId)
      .eval(EPOCH, 1, epochKey)
      .exec()
    const previous = results?.[0]?.[1] as string | null | undefined
    if (lastRenewed && previous == null && !fenced && owned.size) {
      // Our liveness key was gone (expired, or Redis lost its data): others may claim our sessions.
      const ids = [...owned.keys()]
      owned.clear()
      opts.onLost(ids, 'fenced')
    }
    // The key was set no earlier than the request was sent: the lease runs from then.
    lastRenewed = sentAt
    if (fenced) {
      fenced = false
      opts.onRecovered?.()
    }
    // Sessions another worker took over (after an outage longer than the lease) stop here.
    const ids = checkOwners ? [...owned.keys()] : []
    if (ids.length) {
      const values = await redis.mget(ids.map(ownerKey))
      const lost = ids.filter((id, i) => !values[i]?.startsWith(`${workerId}|`))
      if (lost.length) {
        for (const id of lost) owned.delete(id)
        opts.onLost(lost, 'taken-over')
      }
    }
  }

  const fence = () => {
    if (fenced || Date.now() - lastRenewed <= selfFenceAfterMs) return
    fenced = true
    const ids = [...owned.keys()]
    owned.clear()
    opts.onLost(ids, 'fenced')
  }
  // Checked on its own clock too: a renewal that hangs must not delay the fence.
  let fenceTimer: NodeJS.Timeout | undefined

  const tick = async () => {
    try {
      await renew()
    } catch (err) {
      opts.onError?.(err)
      fence()
    } finally {
      if (!stopped) timer = setTimeout(tick, fenced ? Math.min(renewEveryMs, 500) : renewEveryMs)
    }
  }

  return {
    workerId,
    leaseTtlMs,

    /** Registers this worker and starts renewing its liveness. */
    async start () {
      await renew()
      timer = setTimeout(tick, renewEveryMs)
      fenceTimer = setInterval(fence, Math.min(250, renewEveryMs))
    },

    /** Publishes this worker's load now (after it started or stopped a session), not at the next renewal. */
    async refresh () {
      if (!fenced) await renew(false)
    },

    /** Whether this worker currently holds a valid lease (recent renewal, not fenced). */
    healthy () { return !fenced && Date.now() - lastRenewed < selfFenceAfterMs },

    /** The generations of the sessions this worker owns. */
    owned (): ReadonlyMap<string, bigint> { return owned },

    /**
     * Claims a session: succeeds when it is free, already ours, or its owner is dead.
     * Resolves the new fencing generation, or null when another live worker owns it.
     */
    async claim (sessionId: string): Promise<bigint | null> {
      if (!this.healthy()) throw new Error('worker lease is not healthy')
      let ok = -2
      for (let attempt = 0; attempt < 3 && ok === -2; attempt++) {
        ok = await redis.eval(CLAIM, 1, ownerKey(sessionId), workerId, `${prefix}:worker:`, `${prefix}:owned:`, sessionId, epochKey, String(epochGraceMs)) as number
        if (ok === -2) await new Promise(resolve => setTimeout(resolve, epochGraceMs / 2))
      }
      if (ok !== 1) return null
      const generation = await opts.claimGeneration(sessionId)
      if (generation === null) {
        await this.release(sessionId)
        return null
      }
      const confirmed = await redis.eval(CONFIRM, 1, ownerKey(sessionId), workerId, generation.toString()) as number
      if (confirmed !== 1) return null
      owned.set(sessionId, generation)
      return generation
    },

    /** Gives a session up (stop, delete, graceful shutdown): another worker may claim it at once. */
    async release (sessionId: string) {
      owned.delete(sessionId)
      await redis.eval(RELEASE, 2, ownerKey(sessionId), ownedKey(workerId), workerId, sessionId)
    },

    /** Forgets a session locally without touching Redis (it was lost). */
    forget (sessionId: string) { owned.delete(sessionId) },

    async stop (opts2: { release?: boolean } = {}) {
      stopped = true
      clearTimeout(timer)
      clearInterval(fenceTimer)
      if (opts2.release) {
        const ids = [...owned.keys()]
        for (const id of ids) await this.release(id).catch(() => undefined)
        await redis.multi().del(workerKey(workerId)).srem(workersKey, workerId).del(ownedKey(workerId)).exec().catch(() => undefined)
      }
    }
  }
}

export type Ownership = ReturnType<typeof createOwnership>
