import type { RedisOptions } from 'ioredis'
import { createRedisConnection, type RedisClient } from '@wss/shared'
import type { FastifyBaseLogger } from 'fastify'

export interface RedisClients {
  /** Request-path commands: fails fast while Redis is down instead of queueing. */
  redis: RedisClient
  /** Dedicated pub/sub connection for the event relay; waits and resubscribes by itself. */
  subscriber: RedisClient
}

// Reconnect forever with a capped backoff, so the node heals by itself when Redis returns.
const retryStrategy = (times: number) => Math.min(times * 100, 1000)

/** Request-path options: a request must fail in well under a second when Redis is unreachable. */
export const REQUEST_PATH_OPTIONS: RedisOptions = {
  enableOfflineQueue: false,
  connectTimeout: 500,
  commandTimeout: 1000,
  maxRetriesPerRequest: 1,
  retryStrategy
}

/** Creates the API node's two Redis connections; the caller owns them and quits them at shutdown. */
export function createRedisClients (url: string, log: FastifyBaseLogger): RedisClients {
  // Commands issued in the same tick (every request's rate-limit count) leave in one write.
  const redis = createRedisConnection(url, { ...REQUEST_PATH_OPTIONS, enableAutoPipelining: true, connectionName: 'wss-api' })
  const subscriber = createRedisConnection(url, {
    connectTimeout: 2000,
    maxRetriesPerRequest: null,
    retryStrategy,
    connectionName: 'wss-api-events'
  })
  watchRedis(redis, log.child({ redis: 'commands' }))
  watchRedis(subscriber, log.child({ redis: 'events' }))
  return { redis, subscriber }
}

/** Logs one line per outage and one on recovery, not one per reconnect attempt. */
export function watchRedis (client: RedisClient, log: FastifyBaseLogger): void {
  let down = false
  client.on('error', (err: Error) => {
    if (down) return
    down = true
    log.warn({ err }, 'redis unavailable')
  })
  client.on('ready', () => {
    if (!down) return
    down = false
    log.info('redis reconnected')
  })
}

/** Closes clients politely, falling back to a hard disconnect; never throws. */
export async function closeRedisClients (...clients: RedisClient[]): Promise<void> {
  await Promise.all(clients.map(async client => {
    if (client.status === 'end') return
    try {
      if (client.status === 'ready') await client.quit()
      else client.disconnect()
    } catch {
      client.disconnect()
    }
  }))
}

/** Waits until a client is ready, or rejects after `timeoutMs`. */
export async function waitForRedis (client: RedisClient, timeoutMs = 2000): Promise<void> {
  if (client.status === 'ready') return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error('redis not ready in time')) }, timeoutMs)
    const onReady = () => { cleanup(); resolve() }
    const cleanup = () => { clearTimeout(timer); client.off('ready', onReady) }
    client.on('ready', onReady)
  })
}

// What ioredis rejects a command with when it cannot reach the server. Only these exact
// messages count: a generic ECONNRESET from elsewhere must stay a (masked) 500.
const UNAVAILABLE_MESSAGES = new Set([
  "Stream isn't writeable and enableOfflineQueue options is false",
  'Command timed out',
  'Connection is closed.',
  // A Redis Cluster (REDIS_URL=redis+cluster://…) not reachable, or between failovers.
  "Cluster isn't ready and enableOfflineQueue options is false",
  'Cluster is disconnected.',
  'None of startup nodes is available',
  'Node is disconnected'
])

/** True for errors that mean "Redis is unreachable" (as opposed to a command Redis rejected). */
export function isRedisUnavailableError (err: unknown): boolean {
  if (!(err instanceof Error)) return false
  if (err.name === 'MaxRetriesPerRequestError') return true
  return UNAVAILABLE_MESSAGES.has(err.message) || err.message.startsWith('Socket timeout. Expecting data')
}
