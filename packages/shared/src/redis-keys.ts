/**
 * Every Redis key and channel of a deployment, under its prefix (`REDIS_PREFIX`), in one place.
 * The Lua scripts of `redis-scripts.ts` receive these names (or the prefixes that build them)
 * from here, never spelled again.
 */
export interface RedisKeys {
  readonly prefix: string
  /** Set of every worker id that registered (live or not yet reaped). */
  readonly workers: string
  /** A worker's liveness key (JSON `{ load, at, ... }`, TTL = the lease). */
  worker (workerId: string): string
  /** What `worker(id)` is `id` appended to (the scripts build liveness keys from it). */
  readonly workerKeyPrefix: string
  /** The owner of a session: an {@link OwnerValue} string. */
  owner (sessionId: string): string
  /** Set of the sessions a worker owns. */
  owned (workerId: string): string
  readonly ownedKeyPrefix: string
  /** Sessions assigned to a worker that it has not started yet. */
  pending (workerId: string): string
  readonly pendingKeyPrefix: string
  /** When the registry was (re)created; claims wait a grace after it. */
  readonly epoch: string
  /** A short exclusive lock (reap, sweep, resume, maintenance). */
  lock (name: string): string
  /** Pub/sub channel of every event (`BusEvent`). */
  readonly eventsChannel: string
  /** Pub/sub channel where one API node receives its command replies. */
  replies (nodeId: string): string
  /** Pub/sub channel announcing a revoked scoped API key (its id), so every API node drops it at once. */
  readonly keysRevokedChannel: string
  /** Pub/sub channel announcing that webhook endpoints changed, so every process reloads its endpoint list. */
  readonly webhooksChangedChannel: string
  /** BullMQ's key prefix. */
  readonly bull: string
  /** Key prefix of the API's rate-limit counters. */
  readonly rateLimit: string
}

/** The key layout of one deployment. */
export function redisKeys (prefix: string): RedisKeys {
  return {
    prefix,
    workers: `${prefix}:workers`,
    worker: id => `${prefix}:worker:${id}`,
    workerKeyPrefix: `${prefix}:worker:`,
    owner: sessionId => `${prefix}:owner:${sessionId}`,
    owned: id => `${prefix}:owned:${id}`,
    ownedKeyPrefix: `${prefix}:owned:`,
    pending: id => `${prefix}:pending:${id}`,
    pendingKeyPrefix: `${prefix}:pending:`,
    epoch: `${prefix}:epoch`,
    lock: name => `${prefix}:lock:${name}`,
    eventsChannel: `${prefix}:events`,
    replies: nodeId => `${prefix}:replies:${nodeId}`,
    keysRevokedChannel: `${prefix}:keys-revoked`,
    webhooksChangedChannel: `${prefix}:webhooks-changed`,
    bull: `${prefix}:bull`,
    rateLimit: `${prefix}:rate-limit:`
  }
}

/** Separates the worker id from the generation in an owner value; worker ids never contain it. */
export const OWNER_SEPARATOR = '|'
/** The generation an owner value holds between a claim and its confirmation. */
export const PENDING_GENERATION = 'pending'

/** A decoded owner value: the owning worker, and its fencing generation once confirmed. */
export interface OwnerValue { workerId: string, generation: bigint | null }

/** Encodes the value of an owner key. */
export function encodeOwner (workerId: string, generation: bigint | typeof PENDING_GENERATION): string {
  return `${workerId}${OWNER_SEPARATOR}${generation.toString()}`
}

/** Decodes the value of an owner key; null for a missing or malformed one. */
export function decodeOwner (value: string | null | undefined): OwnerValue | null {
  if (value === null || value === undefined) return null
  const at = value.indexOf(OWNER_SEPARATOR)
  if (at <= 0) return null
  const gen = value.slice(at + 1)
  return { workerId: value.slice(0, at), generation: /^\d+$/.test(gen) ? BigInt(gen) : null }
}
