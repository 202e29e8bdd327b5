import { isCluster, type RedisClient } from '@wss/shared'

// Adds a node's increments to the shared window counter; starts the window on its first count.
// Returns the shared count and the window's remaining time.
const SYNC = `
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return { n, ttl }`

interface Counter {
  /** The shared count as of the last sync (every node's requests). */
  shared: number
  /** This node's requests not yet added to the shared count. */
  unsynced: number
  /** This node's requests being added right now. */
  inFlight: number
  expiresAt: number
  windowMs: number
  /** Resolves once the first sync of a counter this node had not seen has answered. */
  first?: Promise<void>
}

type RateLimitRedis = RedisClient & {
  wssRateSync (key: string, increment: number, windowMs: number): Promise<[number, number]>
}

export interface RateCount { current: number, ttl: number }

function withSyncCommand (redis: RedisClient): RateLimitRedis {
  const client = redis as RateLimitRedis
  if (typeof client.wssRateSync !== 'function') client.defineCommand('wssRateSync', { numberOfKeys: 1, lua: SYNC })
  return client
}

// Past this many local counters, expired ones are dropped before a new one is added.
const LOCAL_PRUNE_AT = 10_000

/** Fixed-window counters in this process only: the fallback while Redis cannot count. */
export function createLocalCounters () {
  const counters = new Map<string, { count: number, expiresAt: number }>()
  return {
    incr (key: string, windowMs: number): RateCount {
      const now = Date.now()
      let c = counters.get(key)
      if (c === undefined || c.expiresAt <= now) {
        if (counters.size >= LOCAL_PRUNE_AT) {
          for (const [k, v] of counters) if (v.expiresAt <= now) counters.delete(k)
        }
        c = { count: 0, expiresAt: now + windowMs }
        counters.set(key, c)
      }
      c.count++
      return { current: c.count, ttl: c.expiresAt - now }
    }
  }
}

export interface RateCounters {
  /**
   * Counts a request. Synchronous for a counter this node already holds (the common case: no
   * promise, no microtask); a promise while the shared count of a new counter is being read.
   */
  incr (key: string, windowMs: number): RateCount | Promise<RateCount>
  /** Adds every pending count to Redis now. */
  sync (): Promise<void>
  close (): void
}

const view = (c: Counter, now: number): RateCount => ({ current: c.shared + c.inFlight + c.unsynced, ttl: Math.max(0, c.expiresAt - now) })

// Folds a sync's answer into the counter: Redis's shared count and window, or (Redis unavailable)
// the sent requests counted here.
function apply (c: Counter, sent: number, result: [number, number] | null): void {
  c.inFlight -= sent
  if (result === null) {
    c.shared += sent // Redis unavailable: the requests still count here
    return
  }
  c.shared = result[0]
  c.expiresAt = Date.now() + result[1]
}

// Moves every counter's unsynced requests in flight (the ones still on their first sync wait for
// it), and drops idle counters whose window ended.
function takeBatch (counters: Map<string, Counter>): Array<[string, Counter, number]> {
  const now = Date.now()
  const batch: Array<[string, Counter, number]> = []
  for (const [key, c] of counters) {
    if (c.unsynced > 0 && !c.first) {
      batch.push([key, c, c.unsynced])
      c.inFlight += c.unsynced
      c.unsynced = 0
    } else if (c.expiresAt <= now && c.unsynced === 0 && c.inFlight === 0) {
      counters.delete(key)
    }
  }
  return batch
}

// Adds the pending counts to Redis in one pipeline and brings back every node's counts. On a
// cluster the counters spread over the masters, and a pipeline must stay within one of them: each
// count goes as its own command there (ioredis' auto-pipelining batches them per master).
async function syncCounters (client: RateLimitRedis, counters: Map<string, Counter>, onError: (err: unknown) => void): Promise<void> {
  const batch = takeBatch(counters)
  if (batch.length === 0) return
  let results: Array<[Error | null, unknown]> | null = null
  if (isCluster(client)) {
    results = await Promise.all(batch.map(([key, c, n]) => client.wssRateSync(key, n, c.windowMs)
      .then((value): [null, unknown] => [null, value], (err: Error): [Error, null] => [err, null])))
    const failed = results.find(([err]) => err !== null)
    if (failed) onError(failed[0])
  } else {
    const pipeline = client.pipeline()
    for (const [key, c, n] of batch) (pipeline as unknown as RateLimitRedis).wssRateSync(key, n, c.windowMs)
    try {
      results = await pipeline.exec()
    } catch (err) {
      onError(err)
    }
  }
  batch.forEach(([, c, n], i) => {
    const [err, value] = results?.[i] ?? [new Error('no reply'), null]
    apply(c, n, err ? null : value as [number, number])
  })
}

/**
 * Per-key fixed-window counters shared through Redis, without a Redis round trip per request:
 * a key this node has not seen yet is read from Redis (with its first count), later requests are
 * counted here and added to Redis every `syncMs` in one pipeline, and each sync brings back the
 * count of every node. Across nodes the limit holds to within what they admit in one interval.
 * While Redis is down, each node keeps counting on its own (it does not fail open).
 */
export function createRateCounters (redis: RedisClient, syncMs: number, onError: (err: unknown) => void): RateCounters {
  const client = withSyncCommand(redis)
  const counters = new Map<string, Counter>()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let closed = false

  const syncOnce = () => syncCounters(client, counters, onError)

  function schedule () {
    if (timer || closed) return
    timer = setTimeout(() => {
      timer = undefined
      running = (running ?? Promise.resolve()).then(syncOnce).catch(onError).finally(() => {
        running = undefined
        if ([...counters.values()].some(c => c.unsynced > 0)) schedule()
      })
    }, syncMs)
    timer.unref()
  }

  // First sight (or a new window): learn the shared count together with this request.
  function firstCount (key: string, windowMs: number, now: number): Promise<RateCount> {
    const counter: Counter = { shared: 0, unsynced: 0, inFlight: 1, expiresAt: now + windowMs, windowMs }
    counters.set(key, counter)
    counter.first = client.wssRateSync(key, 1, windowMs)
      .then(result => apply(counter, 1, result), err => { onError(err); apply(counter, 1, null) })
      .finally(() => { counter.first = undefined; if (counter.unsynced > 0) schedule() })
    return counter.first.then(() => view(counter, Date.now()))
  }

  return {
    incr (key, windowMs) {
      const now = Date.now()
      const counter = counters.get(key)
      if (counter === undefined || (counter.expiresAt <= now && counter.inFlight === 0 && counter.unsynced === 0)) {
        return firstCount(key, windowMs, now)
      }
      counter.unsynced++
      if (counter.expiresAt <= now) counter.expiresAt = now + windowMs // the window ended here; the next sync corrects it
      schedule()
      if (counter.first) return counter.first.then(() => view(counter, Date.now()))
      return view(counter, now)
    },

    async sync () {
      clearTimeout(timer)
      timer = undefined
      await running
      await syncOnce()
    },

    close () {
      closed = true
      clearTimeout(timer)
    }
  }
}

type StoreCallback = (err: Error | null, result?: { current: number, ttl: number }) => void

/** A @fastify/rate-limit store class over shared counters, namespaced like its Redis store. */
export function batchedStore (counters: RateCounters, namespace: string) {
  return class BatchedRedisStore {
    constructor (_params: unknown, readonly ns: string = namespace) {}

    incr (key: string, cb: StoreCallback, timeWindow: number) {
      const counted = counters.incr(this.ns + key, timeWindow)
      if (counted instanceof Promise) counted.then(result => cb(null, result), err => cb(err as Error))
      else cb(null, counted)
    }

    child (routeOptions: object) {
      const info = (routeOptions as { routeInfo?: { method?: string, url?: string } }).routeInfo
      return new BatchedRedisStore(null, `${this.ns}${info?.method ?? ''}${info?.url ?? ''}-`)
    }
  }
}

/**
 * A @fastify/rate-limit store that counts every request in Redis (RATE_LIMIT_SYNC_MS=0). A request
 * Redis cannot count (down, timed out) is counted in this process instead, so an outage never
 * lifts the limit; each node then limits on its own until Redis answers again.
 */
export function directStore (redis: RedisClient, namespace: string, onError: (err: unknown) => void) {
  const client = withSyncCommand(redis)
  const local = createLocalCounters()
  return class DirectRedisStore {
    constructor (_params: unknown, readonly ns: string = namespace) {}

    incr (key: string, cb: StoreCallback, timeWindow: number) {
      client.wssRateSync(this.ns + key, 1, timeWindow).then(
        ([current, ttl]) => cb(null, { current, ttl }),
        err => { onError(err); cb(null, local.incr(this.ns + key, timeWindow)) }
      )
    }

    child (routeOptions: object) {
      const info = (routeOptions as { routeInfo?: { method?: string, url?: string } }).routeInfo
      return new DirectRedisStore(null, `${this.ns}${info?.method ?? ''}${info?.url ?? ''}-`)
    }
  }
}
