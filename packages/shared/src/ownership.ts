import type { RedisClient } from './redis-connection.ts'
import { decodeOwner, redisKeys } from './redis-keys.ts'
import { registerScripts } from './redis-scripts.ts'

/**
 * The read side of session ownership (keys of `redis-keys.ts`, written by the workers' ownership
 * module): the registered workers with the end of each one's lease and the facts it published,
 * each session's owner value, each worker's set of owned sessions.
 */
export interface OwnerRecord { workerId: string, generation: bigint | null, alive: boolean }

/** A worker whose lease runs, with the number of sessions it runs. */
export interface LiveWorker { id: string, load: number, info: Record<string, unknown> }

/** How long an assignment counts toward a worker's load before it must have started the session. */
const PENDING_TTL_MS = 60_000

/** One registered worker as the registry holds it: the ms left on its lease (0 once lapsed), its published facts. */
interface WorkerEntry { id: string, leftMs: number, info: Record<string, unknown> }

function parseInfo (json: string): Record<string, unknown> {
  try {
    const info: unknown = JSON.parse(json)
    return typeof info === 'object' && info !== null ? info as Record<string, unknown> : {}
  } catch {
    return {}
  }
}

/**
 * Renews a worker's lease for `leaseMs` from now (Redis' clock) and publishes its facts, in one
 * command; creates the registry epoch when absent. True when the lease was still running before.
 */
export async function renewWorkerLease (redis: RedisClient, prefix: string, workerId: string, leaseMs: number, info: Record<string, unknown>): Promise<boolean> {
  const keys = redisKeys(prefix)
  registerScripts(redis)
  return (await redis.wssRenew(keys.workers, keys.workerInfo, keys.epoch, workerId, leaseMs, JSON.stringify(info))) === 1
}

/** Sessions per re-assert call: one script holds Redis while it runs, so a large worker sends several. */
export const REASSERT_CHUNK = 500

/**
 * After Redis lost its data, sets a live worker's sessions back to it (`wssReassert`): only while the
 * registry is new (younger than `graceMs`, during which no claim is granted) and the worker's lease
 * runs, and only the owner keys that are absent or name this worker, each with the generation the
 * worker holds. The chunks are sent together, in order, on one connection. Resolves the session ids
 * set back; the others (grace over, another owner) the worker must stop.
 */
export async function reassertOwnership (redis: RedisClient, prefix: string, workerId: string, graceMs: number, owned: ReadonlyMap<string, bigint>): Promise<Set<string>> {
  const keys = redisKeys(prefix)
  registerScripts(redis)
  const entries = [...owned]
  const calls: Array<Promise<string[]>> = []
  for (let i = 0; i < entries.length; i += REASSERT_CHUNK) {
    const chunk = entries.slice(i, i + REASSERT_CHUNK)
    calls.push(redis.wssReassert(3 + chunk.length, keys.epoch, keys.workers, keys.owned(workerId), ...chunk.map(([id]) => keys.owner(id)),
      workerId, graceMs, ...chunk.flatMap(([id, generation]) => [id, generation.toString()])))
  }
  // A chunk that failed (a dropped connection) loses only its own sessions, not those set back by the others.
  const settled = await Promise.allSettled(calls)
  if (settled.every(r => r.status === 'rejected')) throw (settled[0] as PromiseRejectedResult).reason
  return new Set(settled.flatMap(r => r.status === 'fulfilled' ? r.value : []))
}

/** Read-only view of the registry, used by the API and by the orphan sweep. */
export function createOwnerRegistry (redis: RedisClient, prefix: string) {
  const keys = redisKeys(prefix)
  registerScripts(redis)

  async function workers (ids?: string[]): Promise<WorkerEntry[]> {
    if (ids !== undefined && ids.length === 0) return []
    const flat = await redis.wssWorkers(keys.workers, keys.workerInfo, ...(ids ?? []))
    const out: WorkerEntry[] = []
    for (let i = 0; i + 2 < flat.length; i += 3) {
      out.push({ id: String(flat[i]), leftMs: Number(flat[i + 1]), info: parseInfo(String(flat[i + 2])) })
    }
    return out
  }

  return {
    /** Live workers with their load (sessions run). */
    async liveWorkers (): Promise<LiveWorker[]> {
      return (await workers()).filter(w => w.leftMs > 0).map(({ id, info }) => ({ id, load: Number(info.load ?? 0), info }))
    },

    /** Workers still listed whose lease lapsed. */
    async deadWorkers (): Promise<string[]> {
      return (await workers()).filter(w => w.leftMs <= 0).map(w => w.id)
    },

    /** The owners of many sessions in two round trips. */
    async owners (sessionIds: string[]): Promise<Map<string, OwnerRecord | null>> {
      const out = new Map<string, OwnerRecord | null>()
      if (!sessionIds.length) return out
      const decoded = (await redis.mget(sessionIds.map(keys.owner))).map(decodeOwner)
      const workerIds = [...new Set(decoded.flatMap(o => o === null ? [] : [o.workerId]))]
      const alive = new Set((await workers(workerIds)).filter(w => w.leftMs > 0).map(w => w.id))
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

    /** Forgets a worker: a dead one once its sessions and commands were handed over, or one that stopped. */
    async forgetWorker (workerId: string) {
      await redis.multi()
        .zrem(keys.workers, workerId)
        .hdel(keys.workerInfo, workerId)
        .hdel(keys.pending, workerId)
        .del(keys.owned(workerId))
        .exec()
    },

    /**
     * Assigns a session without a live owner to the least-loaded live worker, counting assignments
     * it has not started yet (so a burst of new sessions spreads out). Undefined when none is alive.
     */
    async assign (): Promise<string | undefined> {
      return (await redis.wssAssign(keys.workers, keys.workerInfo, keys.pending, PENDING_TTL_MS)) ?? undefined
    },

    /** A worker started a session it was assigned: one fewer pending. */
    async settle (workerId: string) {
      await redis.wssSettle(keys.pending, workerId)
    },

    /** A short exclusive lock (reaping a dead worker, sweeping orphans, maintenance); true when taken. */
    async lock (name: string, holder: string, ttlMs: number) {
      return (await redis.set(keys.lock(name), holder, 'PX', ttlMs, 'NX')) === 'OK'
    },

    /**
     * In how many ms the first listed worker's lease lapses (a dead worker's runs out; a live one's
     * is renewed before), or undefined when no lease is running.
     */
    async nextLeaseExpiry (): Promise<number | undefined> {
      const left = await redis.wssNextExpiry(keys.workers)
      return left > 0 ? left : undefined
    },

    /** Releases a lock before its TTL, if `holder` still holds it; false otherwise. */
    async unlock (name: string, holder: string): Promise<boolean> {
      return (await redis.wssUnlock(keys.lock(name), holder)) === 1
    }
  }
}

export type OwnerRegistry = ReturnType<typeof createOwnerRegistry>
