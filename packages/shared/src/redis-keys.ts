/**
 * Every Redis key and channel of a deployment, under its prefix (`REDIS_PREFIX`), in one place.
 * The registry's keys share one hash tag, `{prefix}`, so on a Redis Cluster they live in one slot
 * and every Lua script of `redis-scripts.ts` may touch several of them; each script receives every
 * key it touches in `KEYS`, built here, never spelled again.
 */
export interface RedisKeys {
  readonly prefix: string
  /** Sorted set of every registered worker id (live or not yet reaped), scored by its lease's end (ms, Redis clock). */
  readonly workers: string
  /** Hash of worker id to the JSON facts it published with its last renewal (`{ load, at, ... }`). */
  readonly workerInfo: string
  /** The owner of a session: an {@link OwnerValue} string. */
  owner (sessionId: string): string
  /** Set of the sessions a worker owns. */
  owned (workerId: string): string
  /** Hash of worker id to the sessions assigned to it and not started yet (`count:untilMs`). */
  readonly pending: string
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
  /** BullMQ's key prefix, braced so each queue's keys (and scripts) share one cluster slot. */
  readonly bull: string
  /**
   * Key prefix of the API's rate-limit counters. Not under the registry's tag: each counter's
   * script touches that counter only, so the counters spread over the cluster's slots.
   */
  readonly rateLimit: string
}

/** The key layout of one deployment. */
export function redisKeys (prefix: string): RedisKeys {
  const tag = `{${prefix}}`
  return {
    prefix,
    workers: `${tag}:workers`,
    workerInfo: `${tag}:worker-info`,
    owner: sessionId => `${tag}:owner:${sessionId}`,
    owned: id => `${tag}:owned:${id}`,
    pending: `${tag}:pending`,
    epoch: `${tag}:epoch`,
    lock: name => `${tag}:lock:${name}`,
    eventsChannel: `${prefix}:events`,
    replies: nodeId => `${prefix}:replies:${nodeId}`,
    keysRevokedChannel: `${prefix}:keys-revoked`,
    webhooksChangedChannel: `${prefix}:webhooks-changed`,
    bull: `{${prefix}:bull}`,
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
