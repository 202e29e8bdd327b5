import type { Redis } from 'ioredis'
import { decodeOwner, redisKeys } from './redis-keys.ts'
import { registerScripts } from './redis-scripts.ts'

/**
 * The read side of session ownership (keys of `redis-keys.ts`, written by the workers' ownership
 * module): each worker's liveness key with its TTL, the set of known workers, each session's owner
 * value, each worker's set of owned sessions.
 */
export interface OwnerRecord { workerId: string, generation: bigint | null, alive: boolean }

/** A worker whose liveness key exists, with the number of sessions it runs. */
export interface LiveWorker { id: string, load: number, info: Record<string, unknown> }

/** How long an assignment counts toward a worker's load before it must have started the session. */
const PENDING_TTL_MS = 60_000

/** Read-only view of the registry, used by the API and by the orphan sweep. */
export function createOwnerRegistry (redis: Redis, prefix: string) {
  const keys = redisKeys(prefix)
  registerScripts(redis)

  async function liveness (ids: string[]): Promise<Array<string | null>> {
    return ids.length === 0 ? [] : await redis.mget(ids.map(keys.worker))
  }

  return {
    /** Live workers with their load (sessions run). */
    async liveWorkers (): Promise<LiveWorker[]> {
      const ids = await redis.smembers(keys.workers)
      const values = await liveness(ids)
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
      const ids = await redis.smembers(keys.workers)
      const values = await liveness(ids)
      return ids.filter((_, i) => !values[i])
    },

    /** The owners of many sessions in two round trips. */
    async owners (sessionIds: string[]): Promise<Map<string, OwnerRecord | null>> {
      const out = new Map<string, OwnerRecord | null>()
      if (!sessionIds.length) return out
      const decoded = (await redis.mget(sessionIds.map(keys.owner))).map(decodeOwner)
      const workerIds = [...new Set(decoded.flatMap(o => o === null ? [] : [o.workerId]))]
      const live = await liveness(workerIds)
      const alive = new Set(workerIds.filter((_, i) => live[i]))
      sessionIds.forEach((id, i) => {
        const owner = decoded[i] ?? null
        out.set(id, owner === null ? null : { ...owner, alive: alive.has(owner.workerId) })
      })
      return out
    },

    async owner (sessionId: string): Promise<OwnerRecord | null> {
      return (await this.owners([sessionId])).get(sessionId) ?? null
    },

    /** Sessions a worker owns, as the registry says. */
    ownedBy (workerId: string) { return redis.smembers(keys.owned(workerId)) },

    /** How many sessions each of these workers owns, as the registry says (one round trip). */
    async ownedCounts (workerIds: string[]): Promise<number[]> {
      if (workerIds.length === 0) return []
      const pipeline = redis.pipeline()
      for (const id of workerIds) pipeline.scard(keys.owned(id))
      const results = (await pipeline.exec()) ?? []
      return results.map(([err, count]) => { if (err) throw err; return Number(count) })
    },

    /** Forgets a dead worker once its sessions and commands were handed over. */
    async forgetWorker (workerId: string) {
      await redis.multi().srem(keys.workers, workerId).del(keys.owned(workerId)).exec()
    },

    /**
     * Assigns a session without a live owner to the least-loaded live worker, counting assignments
     * it has not started yet (so a burst of new sessions spreads out). Undefined when none is alive.
     */
    async assign (): Promise<string | undefined> {
      return (await redis.wssAssign(keys.workers, keys.workerKeyPrefix, keys.pendingKeyPrefix, PENDING_TTL_MS)) ?? undefined
    },

    /** A worker started a session it was assigned: one fewer pending. */
    async settle (workerId: string) {
      await redis.wssSettle(keys.pending(workerId))
    },

    /** A short exclusive lock (reaping a dead worker, sweeping orphans, maintenance); true when taken. */
    async lock (name: string, holder: string, ttlMs: number) {
      return (await redis.set(keys.lock(name), holder, 'PX', ttlMs, 'NX')) === 'OK'
    },

    /**
     * In how many ms the first listed worker's liveness lapses (a dead worker's key runs out; a live
     * one's is renewed before), or undefined when no key is counting down.
     */
    async nextLeaseExpiry (): Promise<number | undefined> {
      const left = await redis.wssNextExpiry(keys.workers, keys.workerKeyPrefix)
      return left > 0 ? left : undefined
    },

    /** Releases a lock before its TTL, if `holder` still holds it; false otherwise. */
    async unlock (name: string, holder: string): Promise<boolean> {
      return (await redis.wssUnlock(keys.lock(name), holder)) === 1
    }
  }
}

export type OwnerRegistry = ReturnType<typeof createOwnerRegistry>
