import type { Redis } from 'ioredis'
import { ClaimResult, decodeOwner, redisKeys, registerScripts } from '@wss/shared'
import * as leaseTiming from './lease-timing.ts'
import { metrics } from '../lib/metrics.ts'

/**
 * Session ownership across worker processes and hosts.
 *
 * - Liveness: each worker renews its liveness key (TTL leaseTtlMs). One command per worker per
 *   renewal, whatever its number of sessions.
 * - Owner registry: each session's owner key names its worker and generation; each worker has the
 *   set of its sessions (keys and scripts: `redis-keys.ts`, `redis-scripts.ts` of @wss/shared). A
 *   session's lease holds while its owner's liveness key exists.
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

/** Creates the ownership client of one worker process. */
export function createOwnership (opts: OwnershipOptions) {
  const { redis, workerId } = opts
  registerScripts(redis)
  const keys = redisKeys(opts.prefix)
  const leaseTtlMs = opts.leaseTtlMs ?? 8000
  const renewEveryMs = opts.renewEveryMs ?? leaseTiming.renewEveryMs(leaseTtlMs)
  const selfFenceAfterMs = opts.selfFenceAfterMs ?? leaseTiming.selfFenceAfterMs(leaseTtlMs)
  const owned = new Map<string, bigint>()
  let lastRenewed = 0
  let fenced = false
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  // Claims wait this long after the registry was (re)created: every live old owner renews within it,
  // finds its liveness key gone, and stops its sockets first.
  const epochGraceMs = renewEveryMs * 2 + 500
  /** Writes the liveness key (with the load); with `checkOwners`, also finds sessions another worker took over. */
  const renew = async (checkOwners = true) => {
    const value = JSON.stringify({ load: opts.load(), at: Date.now(), ...opts.info })
    const sentAt = Date.now()
    const results = await redis.multi()
      .set(keys.worker(workerId), value, 'PX', leaseTtlMs, 'GET')
      .sadd(keys.workers, workerId)
      .wssEpoch(keys.epoch)
      .exec()
    const previous = results?.[0]?.[1] as string | null | undefined
    if (lastRenewed && previous == null && !fenced && owned.size) {
      // Our liveness key was gone (expired, or Redis lost its data): others may claim our sessions.
      const ids = [...owned.keys()]
      owned.clear()
      metrics.selfFencings.inc()
      opts.onLost(ids, 'fenced')
    }
    // The key was set no earlier than the request was sent: the lease runs from then.
    lastRenewed = sentAt
    metrics.leaseRenewals.inc({ result: 'ok' })
    if (fenced) {
      fenced = false
      opts.onRecovered?.()
    }
    // Sessions another worker took over (after an outage longer than the lease) stop here.
    const ids = checkOwners ? [...owned.keys()] : []
    if (ids.length) {
      const values = (await redis.mget(ids.map(keys.owner))).map(decodeOwner)
      const lost = ids.filter((_, i) => values[i]?.workerId !== workerId)
      if (lost.length) {
        for (const id of lost) owned.delete(id)
        opts.onLost(lost, 'taken-over')
      }
    }
  }

  const fence = () => {
    if (fenced || Date.now() - lastRenewed <= selfFenceAfterMs) return
    fenced = true
    metrics.selfFencings.inc()
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
      metrics.leaseRenewals.inc({ result: 'error' })
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
      let result: ClaimResult = ClaimResult.RegistryNew
      for (let attempt = 0; attempt < 3 && result === ClaimResult.RegistryNew; attempt++) {
        result = await redis.wssClaim(keys.owner(sessionId), keys.epoch, workerId, keys.workerKeyPrefix, keys.ownedKeyPrefix, sessionId, epochGraceMs)
        if (result === ClaimResult.RegistryNew) await new Promise(resolve => setTimeout(resolve, epochGraceMs / 2))
      }
      if (result !== ClaimResult.Granted) return null
      const generation = await opts.claimGeneration(sessionId)
      if (generation === null) {
        await this.release(sessionId)
        return null
      }
      if (await redis.wssConfirm(keys.owner(sessionId), workerId, generation.toString()) !== 1) return null
      owned.set(sessionId, generation)
      return generation
    },

    /** Gives a session up (stop, delete, graceful shutdown): another worker may claim it at once. */
    async release (sessionId: string) {
      owned.delete(sessionId)
      await redis.wssRelease(keys.owner(sessionId), keys.owned(workerId), workerId, sessionId)
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
        await redis.multi().del(keys.worker(workerId)).srem(keys.workers, workerId).del(keys.owned(workerId)).exec().catch(() => undefined)
      }
    }
  }
}

export type Ownership = ReturnType<typeof createOwnership>
