import { randomUUID } from 'node:crypto'
import { tcpProxy } from '@wss/shared/testing'
import type { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Queue } from 'bullmq'
import { createPrisma, dropDatabase, migrate, type PrismaClient } from '@wss/db'
import { createRedisConnection, encodeOwner, redisKeys, renewWorkerLease, workerQueueName, type RedisClient } from '@wss/shared'
import app, { serverOptions } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { loggerOptions } from '../src/logger.ts'
import { closeRedisClients, createRedisClients, waitForRedis } from '../src/redis.ts'

/** Keys every test app accepts: API_KEY="KEY,ROTATED_KEY". */
export const KEY = 'test-key-primary-0123456789'
export const ROTATED_KEY = 'test-key-rotated-9876543210'
export const REDIS_URL = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_SERVER_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

export interface Tap { teardown: (fn: () => unknown) => void }

export interface BuildOptions {
  /** Environment overrides; REDIS_PREFIX defaults to a fresh one per app. */
  env?: Record<string, string>
  /** A migrated database (see {@link testDatabase}); without it the app gets a client that is never used. */
  db?: TestDatabase
  /**
   * Without `db`, the database the app's client points at (default: the test server's own
   * `postgres` database, so the readiness check really queries Postgres).
   */
  databaseUrl?: string
  /** Overrides the database check (a check that never answers); default: the app's real `SELECT 1`. */
  checkDatabase?: () => Promise<void>
  /** The clock the app's caches age by (a fake one makes cache tests independent of load). */
  now?: () => number
  /** Adds test-only routes or plugins before the app is ready. */
  extend?: (fastify: FastifyInstance) => Promise<void> | void
  /** Listen on an ephemeral port (socket tests), or on this port (a node started again in place). */
  listen?: boolean | number
  /** Skip waiting for Redis (tests that point at a closed port). */
  redisDown?: boolean
  /** Log as server.ts does (LOG_LEVEL from env), into this stream. */
  logStream?: Writable
}

/** A unique Redis key prefix, so tests never share keys or channels by accident. */
export const uniquePrefix = () => `test-${randomUUID()}`

export interface TestDatabase { prisma: PrismaClient, url: string }

/** A freshly migrated database for one test file, dropped at teardown. */
export async function testDatabase (t: Tap): Promise<TestDatabase> {
  const url = new URL(DATABASE_SERVER_URL)
  url.pathname = `/wss_api_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`
  const databaseUrl = url.toString()
  // WITH (FORCE): dropping works whatever the order of the teardowns.
  t.teardown(() => dropDatabase(databaseUrl))
  await migrate(databaseUrl)
  const prisma = createPrisma(databaseUrl, { poolSize: 4 })
  t.teardown(() => prisma.$disconnect())
  return { prisma, url: databaseUrl }
}

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

  let prisma = options.db?.prisma
  if (prisma === undefined) {
    // Connects lazily: only the readiness check queries it.
    const server = createPrisma(options.databaseUrl ?? DATABASE_SERVER_URL, { poolSize: 1 })
    t.teardown(() => server.$disconnect())
    prisma = server
  }
  await fastify.register(fp(app), {
    config,
    redis,
    subscriber,
    prisma,
    ...(options.checkDatabase === undefined ? {} : { checkDatabase: options.checkDatabase }),
    ...(options.now === undefined ? {} : { now: options.now })
  })
  await options.extend?.(fastify)
  if (options.redisDown !== true) {
    // The request-path client refuses commands until connected; wait so counters are exact.
    await waitForRedis(redis)
    await fastify.ready()
    await fastify.events.subscribed()
    await fastify.commands.subscribed()
  } else {
    await fastify.ready()
  }
  if (options.listen !== undefined && options.listen !== false) await fastify.listen({ port: options.listen === true ? 0 : options.listen, host: '127.0.0.1' })
  return fastify
}

/** The base URL of a listening app. */
export function baseUrl (fastify: FastifyInstance): string {
  const address = fastify.server.address()
  if (address === null || typeof address === 'string') throw new Error('app is not listening on a port')
  return `http://127.0.0.1:${address.port}`
}

/** A separate Redis connection standing in for a worker that publishes events. */
export async function createPublisher (t: Tap): Promise<RedisClient> {
  const publisher = createRedisConnection(REDIS_URL, { maxRetriesPerRequest: 1 })
  t.teardown(() => closeRedisClients(publisher))
  await waitForRedis(publisher)
  return publisher
}

/** Resolves with the first value `register` hands its callback, or rejects after `ms`. */
export function nextValue<T> (register: (cb: (value: T) => void) => void, ms = 10_000, what = 'value'): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)
    register(value => { clearTimeout(timer); resolve(value) })
  })
}

/**
 * Polls `check` until it holds; false once `ms` (generous: a loaded machine is slow) have passed.
 * For "it happens"; a "does not happen" check needs an event that proves the moment has passed.
 */
export async function eventually (check: () => Promise<boolean> | boolean, ms = 10_000, everyMs = 20): Promise<boolean> {
  const until = Date.now() + ms
  for (;;) {
    if (await check()) return true
    if (Date.now() >= until) return false
    await sleep(everyMs)
  }
}

/** A hand-driven clock for {@link BuildOptions.now}: starts at the real time and moves only when told. */
export function fakeClock () {
  let at = Date.now()
  return { now: () => at, advance: (ms: number) => { at += ms } }
}

/** Settles like `promise`, or rejects once `ms` have passed: a bound on a hang, never a speed claim (keep `ms` >= 5000). */
export function settlesWithin<T> (promise: Promise<T>, ms: number, what = 'answer'): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms) })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms))

/** The key every test request carries. */
export const auth = { 'x-api-key': KEY }

/**
 * Makes `workerId` alive in the owner registry with the renewal a worker makes (a 60 s lease).
 * Nothing consumes its queue, so commands sent to it time out.
 */
export async function registerWorker (redis: RedisClient, prefix: string, workerId: string, load = 0): Promise<void> {
  await renewWorkerLease(redis, prefix, workerId, 60000, { load })
}

/** Lets a worker's lease lapse (its lease ended long ago; it stays listed, like a dead worker). */
export async function expireWorker (redis: RedisClient, prefix: string, workerId: string): Promise<void> {
  await redis.zadd(redisKeys(prefix).workers, 1, workerId)
}

/** Records `workerId` as the owner of a session, as a worker's claim does (generation: the one in the session row). */
export async function setOwner (redis: RedisClient, prefix: string, sessionId: string, workerId: string, generation = 0): Promise<void> {
  await redis.set(redisKeys(prefix).owner(sessionId), encodeOwner(workerId, BigInt(generation)))
}

/** A BullMQ handle on a worker's command queue, on its own connection, to inspect what was enqueued. */
export async function inspectQueue (t: Tap, prefix: string, workerId: string): Promise<Queue> {
  const connection = createRedisConnection(REDIS_URL, { maxRetriesPerRequest: 1 })
  await waitForRedis(connection)
  const queue = new Queue(workerQueueName(workerId), { connection, prefix: redisKeys(prefix).bull })
  t.teardown(async () => {
    await queue.close()
    await closeRedisClients(connection)
  })
  return queue
}

/** A unique session id. */
export const sessionName = (tag = 's') => `${tag}-${randomUUID().slice(0, 8)}`

/** A multipart body with one file part, as `inject` takes it. */
export async function multipart (field: string, bytes: Uint8Array, filename: string, type = 'application/octet-stream') {
  const form = new FormData()
  form.append(field, new Blob([bytes], { type }), filename)
  const response = new Response(form)
  return {
    payload: Buffer.from(await response.arrayBuffer()),
    headers: { 'content-type': response.headers.get('content-type')! }
  }
}

/** A TCP proxy to the test Redis whose connections can be cut (a Redis restart, seen from the node). */
export async function redisProxy (t: Tap) {
  return await tcpProxy(t, new URL(REDIS_URL))
}
