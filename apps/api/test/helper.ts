import { randomUUID } from 'node:crypto'
import type { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import app, { serverOptions } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { loggerOptions } from '../src/logger.ts'
import { closeRedisClients, createRedisClients, waitForRedis } from '../src/redis.ts'

/** Keys every test app accepts: API_KEY="KEY,ROTATED_KEY". */
export const KEY = 'test-key-primary-0123456789'
export const ROTATED_KEY = 'test-key-rotated-9876543210'
export const REDIS_URL = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

interface Tap { teardown: (fn: () => unknown) => void }

export interface BuildOptions {
  /** Environment overrides; REDIS_PREFIX defaults to a fresh one per app. */
  env?: Record<string, string>
  checkDatabase?: () => Promise<void>
  /** Adds test-only routes or plugins before the app is ready. */
  extend?: (fastify: FastifyInstance) => Promise<void> | void
  /** Listen on an ephemeral port (socket tests). */
  listen?: boolean
  /** Skip waiting for Redis (tests that point at a closed port). */
  redisDown?: boolean
  /** Log as server.ts does (LOG_LEVEL from env), into this stream. */
  logStream?: Writable
}

/** A unique Redis key prefix, so tests never share keys or channels by accident. */
export const uniquePrefix = () => `test-${randomUUID()}`

/** Builds the app as server.ts does (minus logging and listening) and closes everything at teardown. */
export async function build (t: Tap, options: BuildOptions = {}): Promise<FastifyInstance> {
  const config = loadConfig({
    API_KEY: `${KEY},${ROTATED_KEY}`,
    REDIS_URL,
    REDIS_PREFIX: uniquePrefix(),
    LOG_LEVEL: 'silent',
    ...options.env
  })
  const logger = options.logStream === undefined
    ? false
    : { ...(loggerOptions(config, false) as object), stream: options.logStream }
  const fastify = Fastify({ ...serverOptions(config), logger })
  const { redis, subscriber } = createRedisClients(config.REDIS_URL, fastify.log)
  t.teardown(async () => {
    await fastify.close()
    await closeRedisClients(redis, subscriber)
  })

  await fastify.register(fp(app), {
    config,
    redis,
    subscriber,
    checkDatabase: options.checkDatabase ?? (async () => {})
  })
  await options.extend?.(fastify)
  if (options.redisDown !== true) {
    // The request-path client refuses commands until connected; wait so counters are exact.
    await waitForRedis(redis)
    await fastify.ready()
    await fastify.events.subscribed()
  } else {
    await fastify.ready()
  }
  if (options.listen === true) await fastify.listen({ port: 0, host: '127.0.0.1' })
  return fastify
}

/** The base URL of a listening app. */
export function baseUrl (fastify: FastifyInstance): string {
  const address = fastify.server.address()
  if (address === null || typeof address === 'string') throw new Error('app is not listening on a port')
  return `http://127.0.0.1:${address.port}`
}

/** A separate Redis connection standing in for a worker that publishes events. */
export async function createPublisher (t: Tap): Promise<Redis> {
  const publisher = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  t.teardown(() => closeRedisClients(publisher))
  await waitForRedis(publisher)
  return publisher
}

/** Resolves with the first value `register` hands its callback, or rejects after `ms`. */
export function nextValue<T> (register: (cb: (value: T) => void) => void, ms = 2000, what = 'value'): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)
    register(value => { clearTimeout(timer); resolve(value) })
  })
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms))
