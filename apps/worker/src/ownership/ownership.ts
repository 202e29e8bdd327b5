import { ClaimResult, createOwnerRegistry, decodeOwner, reassertOwnership, redisKeys, registerScripts, renewWorkerLease, type RedisClient } from '@wss/shared'
import * as leaseTiming from './lease-timing.ts'
import { metrics } from '../lib/metrics.ts'

/**
 * Session ownership across worker processes and hosts.
 *
 * - Liveness: each worker renews its lease (its score in the workers set: Redis' time + leaseTtlMs).
 *   One command per worker per renewal, whatever its number of sessions.
 * - Owner registry: each session's owner key names its worker and generation; each worker has the
 *   set of its sessions (keys and scripts: `redis-keys.ts`, `redis-scripts.ts` of @wss/shared). A
 *   session's lease holds while its owner's lease runs.
 * - Fencing: the generation comes from Postgres (the caller's claimGeneration), where every write
 *   of session state is checked against it.
 * - Self-fencing: a worker that could not renew for selfFenceAfterMs (< leaseTtlMs) stops all its
 *   sessions before its key can expire, so a new owner never overlaps with it.
 * - A renewal answered late still counts: the lease runs from when the renewal was sent, whenever
 *   the answer is read, so a worker whose event loop is starved (a loaded host, thousands of
 *   sessions starting) does not fence itself while Redis did renew it. The next renewal does not
 *   wait for a slow one longer than renewTimeoutMs.
 * - Redis that lost its data: a renewal finds the lease gone. A worker whose lease cannot have
 *   lapsed by its own accounting sets its sessions back while the registry is new (see
 *   {@link keepOrStop}); otherwise, or for the sessions it could not set back, it stops them.
 */
export interface OwnershipOptions {
  redis: RedisClient
  prefix: string
  workerId: string
  /** Extra facts published with each renewal (host, pid). */
  info?: Record<string, unknown>
  leaseTtlMs?: number
  renewEveryMs?: number
  selfFenceAfterMs?: number
  /** How long a renewal is waited for before the next one is sent (default 1000); its answer still counts when it comes later. */
  renewTimeoutMs?: number
  /** Increments the session's fencing generation in Postgres; resolves null when the session is gone. */
  claimGeneration (sessionId: string): Promise<bigint | null>
  /** Sessions this worker must stop now (lease lost or taken over). */
  onLost (sessionIds: string[], reason: 'fenced' | 'taken-over'): void
  /**
   * Called once renewals succeed again after a fence, or when a renewal found the lease gone (Redis
   * may have lost its data, delayed jobs included).
   */
  onRecovered? (): void
  /** Number of sessions this worker runs, published as its load. */
  load (): number
  onError? (err: unknown): void
}

/** What a worker's lease knows between renewals. */
interface LeaseState {
  owned: Map<string, bigint>
  lastRenewed: number
  fenced: boolean
  stopped: boolean
  /** The registry epoch the last owner check read (a new one: Redis lost its data). */
  epoch?: string
  /** The last re-assert after a lost lease, until it settled: checking for taken-over sessions waits for it. */
  reasserting?: Promise<void>
  timer?: NodeJS.Timeout
  /** Checked on its own clock too: a renewal that hangs must not delay the fence. */
  fenceTimer?: NodeJS.Timeout
}

/** One worker's lease: its settings, keys and state. */
interface Lease {
  opts: OwnershipOptions
  redis: RedisClient
  workerId: string
  keys: ReturnType<typeof redisKeys>
  leaseTtlMs: number
  renewEveryMs: number
  selfFenceAfterMs: number
  renewTimeoutMs: number
  /**
   * Claims wait this long after the registry was (re)created: every live old owner renews within it,
   * finds its lease gone, and sets its sessions back or stops their sockets first.
   */
  epochGraceMs: number
  state: LeaseState
}

/** What claiming a session needs of the ownership client itself. */
interface Claimer {
  healthy (): boolean
  release (sessionId: string): Promise<void>
}

/** Creates the ownership client of one worker process. */
export function createOwnership (opts: OwnershipOptions) {
  const lease = createLease(opts)
  const { redis, workerId, keys, state } = lease
  const { owned } = state

  return {
    workerId,
    leaseTtlMs: lease.leaseTtlMs,

    /** Registers this worker and starts renewing its lease. */
    async start () {
      await renew(lease)
      state.timer = setTimeout(() => tick(lease), lease.renewEveryMs)
      state.fenceTimer = setInterval(() => fence(lease), Math.min(250, lease.renewEveryMs))
    },

    /** Publishes this worker's load now (after it started or stopped a session), not at the next renewal. */
    async refresh () {
      if (!state.fenced) await renew(lease, false)
    },

    /** Whether this worker currently holds a valid lease (recent renewal, not fenced). */
    healthy () { return !state.fenced && Date.now() - state.lastRenewed < lease.selfFenceAfterMs },

    /** The generations of the sessions this worker owns. */
    owned (): ReadonlyMap<string, bigint> { return owned },

    /**
     * Claims a session: succeeds when it is free, already ours, or its owner is dead.
     * Resolves the new fencing generation, or null when another live worker owns it.
     */
    async claim (sessionId: string): Promise<bigint | null> {
      return await claim(lease, this, sessionId)
    },

    /** Gives a session up (stop, delete, graceful shutdown): another worker may claim it at once. */
    async release (sessionId: string) {
      owned.delete(sessionId)
      await redis.wssRelease(keys.owner(sessionId), keys.owned(workerId), workerId, sessionId)
    },

    /** Forgets a session locally without touching Redis (it was lost). */
    forget (sessionId: string) { owned.delete(sessionId) },

    async stop (opts2: { release?: boolean } = {}) {
      state.stopped = true
      clearTimeout(state.timer)
      clearInterval(state.fenceTimer)
      if (opts2.release) {
        const ids = [...owned.keys()]
        for (const id of ids) await this.release(id).catch(() => undefined)
        await createOwnerRegistry(redis, opts.prefix).forgetWorker(workerId).catch(() => undefined)
      }
    }
  }
}

export type Ownership = ReturnType<typeof createOwnership>

function createLease (opts: OwnershipOptions): Lease {
  const { redis, workerId } = opts
  registerScripts(redis)
  const keys = redisKeys(opts.prefix)
  const leaseTtlMs = opts.leaseTtlMs ?? 8000
  const renewEveryMs = opts.renewEveryMs ?? leaseTiming.renewEveryMs(leaseTtlMs)
  const selfFenceAfterMs = opts.selfFenceAfterMs ?? leaseTiming.selfFenceAfterMs(leaseTtlMs)
  const state: LeaseState = { owned: new Map<string, bigint>(), lastRenewed: 0, fenced: false, stopped: false }
  const epochGraceMs = renewEveryMs * 2 + 500
  const renewTimeoutMs = opts.renewTimeoutMs ?? 1000
  return { opts, redis, workerId, keys, leaseTtlMs, renewEveryMs, selfFenceAfterMs, renewTimeoutMs, epochGraceMs, state }
}

/** Renews the lease (publishing the load); with `checkOwners`, also finds sessions another worker took over. */
async function renew (lease: Lease, checkOwners = true) {
  const { opts, redis, workerId, leaseTtlMs, state } = lease
  // A stopped worker (shut down, its sessions released) neither renews nor re-asserts.
  if (state.stopped) return
  const sentAt = Date.now()
  const wasRunning = await renewWorkerLease(redis, opts.prefix, workerId, leaseTtlMs, { load: opts.load(), at: Date.now(), ...opts.info })
  // Answers come in the order the renewals were sent; one that a newer answer overtook adds nothing,
  // and one sent before the fence's deadline ran out cannot vouch for the lease now (a newer one will).
  if (sentAt < state.lastRenewed || (state.fenced && Date.now() - sentAt > lease.selfFenceAfterMs)) return
  // Our lease had lapsed or was gone (Redis lost its data). Read now, before this renewal counts: the
  // renewal ran in Redis no later than now, so while now is within the fence's deadline of the last
  // renewal Redis answered (sent at lastRenewed, so running until lastRenewed + leaseTtlMs at least),
  // the lease was still running when the data was lost.
  const gone = state.lastRenewed > 0 && !wasRunning && !state.fenced
  // An answer read late (a starved loop) leaves too little of the grace to set sessions back and,
  // refused, stop them before claims open again: those stop at once, as before.
  const mayHaveLapsed = Date.now() - state.lastRenewed >= lease.selfFenceAfterMs || Date.now() - sentAt > lease.renewTimeoutMs
  // The lease was renewed no earlier than the request was sent: it runs from then.
  state.lastRenewed = sentAt
  metrics.leaseRenewals.inc({ result: 'ok' })
  if (gone) {
    if (state.owned.size) {
      const settled = keepOrStop(lease, mayHaveLapsed)
      state.reasserting = settled.catch(() => undefined)
      await settled
    }
    opts.onRecovered?.()
  }
  if (state.fenced) {
    state.fenced = false
    opts.onRecovered?.()
  }
  if (checkOwners) {
    await state.reasserting
    await dropTakenOver(lease)
  }
}

/**
 * A renewal found the lease gone. When it cannot have lapsed (`mayHaveLapsed` false: Redis lost its
 * data while it ran, so nobody could claim our sessions before the loss) and the registry is new,
 * the sessions are set back to this worker with the generations it holds (`wssReassert`, atomic,
 * checked on Redis' clock): during the grace nobody can claim (`RegistryNew`), every live owner
 * renews within one renewal interval (< grace), and the Postgres generation, unchanged, still
 * fences every write. The others (grace over, owner key naming another worker, an error) are
 * stopped, as is everything when the lease may have lapsed: another worker may hold them.
 */
async function keepOrStop (lease: Lease, mayHaveLapsed: boolean) {
  const { opts, redis, workerId, epochGraceMs, state } = lease
  const held = new Map(state.owned)
  const kept = mayHaveLapsed
    ? new Set<string>()
    : await reassertOwnership(redis, opts.prefix, workerId, epochGraceMs, held).catch((err: unknown) => { opts.onError?.(err); return new Set<string>() })
  metrics.reasserted.inc(kept.size)
  // Sessions released, or stopped by a fence, while the script ran are not stopped twice.
  const lost = [...held].filter(([id, generation]) => !kept.has(id) && state.owned.get(id) === generation).map(([id]) => id)
  if (!lost.length) return
  for (const id of lost) state.owned.delete(id)
  metrics.selfFencings.inc()
  opts.onLost(lost, 'fenced')
}

/**
 * Sessions another worker took over (after an outage longer than the lease) stop here. An owner key
 * that is gone while the registry is not the one seen last (the epoch changed or is gone: Redis lost
 * its data between this tick's renewal and this read) is left to the next renewal, which finds the
 * lease gone and sets the sessions back or stops them (`keepOrStop`); nobody can claim before it runs.
 */
async function dropTakenOver (lease: Lease) {
  const { opts, redis, workerId, keys, state } = lease
  const { owned } = state
  const ids = [...owned.keys()]
  if (ids.length) {
    const [epoch, ...raw] = await redis.mget(keys.epoch, ...ids.map(keys.owner))
    const values = raw.map(decodeOwner)
    const sameRegistry = epoch !== null && (state.epoch === undefined || state.epoch === epoch)
    state.epoch = epoch ?? undefined
    const lost = ids.filter((_, i) => values[i] ? values[i]!.workerId !== workerId : sameRegistry)
    if (lost.length) {
      for (const id of lost) owned.delete(id)
      opts.onLost(lost, 'taken-over')
    }
  }
}

/** Stops every session once renewals failed for selfFenceAfterMs, before the lease can lapse. */
function fence (lease: Lease) {
  const { state } = lease
  if (state.fenced || Date.now() - state.lastRenewed <= lease.selfFenceAfterMs) return
  state.fenced = true
  metrics.selfFencings.inc()
  const ids = [...state.owned.keys()]
  state.owned.clear()
  lease.opts.onLost(ids, 'fenced')
}

async function tick (lease: Lease) {
  const { state, renewEveryMs } = lease
  try {
    await answeredWithin(renew(lease), lease.renewTimeoutMs)
  } catch (err) {
    metrics.leaseRenewals.inc({ result: 'error' })
    lease.opts.onError?.(err)
    fence(lease)
  } finally {
    if (!state.stopped) state.timer = setTimeout(() => tick(lease), state.fenced ? Math.min(renewEveryMs, 500) : renewEveryMs)
  }
}

/**
 * The work's outcome, or a rejection once `ms` passed; the work goes on, and what it does when it
 * ends (a late renewal counted) still happens.
 */
function answeredWithin (work: Promise<void>, ms: number): Promise<void> {
  work.catch(() => undefined) // a failure after the deadline was already reported as the timeout
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<void>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`lease renewal not answered within ${ms} ms`)), ms) })
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer))
}

async function claim (lease: Lease, self: Claimer, sessionId: string): Promise<bigint | null> {
  const { opts, redis, workerId, keys, epochGraceMs, state: { owned } } = lease
  if (!self.healthy()) throw new Error('worker lease is not healthy')
  let result: ClaimResult = ClaimResult.RegistryNew
  for (let attempt = 0; attempt < 3 && (result === ClaimResult.RegistryNew || result === ClaimResult.OwnerChanged); attempt++) {
    // The script must be given the current owner's owned set, so it needs the owner read first;
    // it refuses (OwnerChanged) when the owner changed in between, and we read again.
    const current = decodeOwner(await redis.get(keys.owner(sessionId)))?.workerId ?? ''
    result = await redis.wssClaim(keys.owner(sessionId), keys.epoch, keys.workers, keys.owned(workerId), keys.owned(current || workerId),
      workerId, sessionId, epochGraceMs, current)
    if (result === ClaimResult.RegistryNew) await new Promise(resolve => setTimeout(resolve, epochGraceMs / 2))
  }
  if (result !== ClaimResult.Granted) return null
  const generation = await opts.claimGeneration(sessionId)
  if (generation === null) {
    await self.release(sessionId)
    return null
  }
  if (await redis.wssConfirm(keys.owner(sessionId), workerId, generation.toString()) !== 1) return null
  owned.set(sessionId, generation)
  return generation
}
