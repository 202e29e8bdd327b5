import type { Server } from 'node:http'
import { LogController, type FastifyHttpOptions, type FastifyInstance } from 'fastify'
import type { RedisClient } from '@wss/shared'
import type { PrismaClient } from '@wss/db'
import type { Config } from './config.ts'
import errorHandler from './plugins/app/error-handler.ts'
import readiness from './plugins/app/readiness.ts'
import eventRelay from './plugins/app/event-relay.ts'
import apiKeys from './plugins/app/api-keys.ts'
import metrics from './plugins/app/metrics.ts'
import auth from './plugins/app/auth.ts'
import keyAccess from './plugins/app/key-access.ts'
import eventPublisher from './plugins/app/event-publisher.ts'
import webhooks from './plugins/app/webhooks.ts'
import commandBus from './plugins/app/command-bus.ts'
import sessions from './plugins/app/sessions.ts'
import statuses from './plugins/app/statuses.ts'
import audienceLists from './plugins/app/audience-lists.ts'
import analytics from './plugins/app/analytics.ts'
import contacts from './plugins/app/contacts.ts'
import uploads from './plugins/app/uploads.ts'
import health from './plugins/app/health.ts'
import socketIoRelay from './plugins/app/socket-io-relay.ts'
import eventStream from './plugins/app/event-stream.ts'
import swagger from './plugins/external/swagger.ts'
import rateLimit from './plugins/external/rate-limit.ts'
import websocket from './plugins/external/websocket.ts'
import cors from './plugins/external/cors.ts'
import responseHeaders from './plugins/app/response-headers.ts'
import eventClients from './plugins/app/event-clients.ts'
import queueBoard from './plugins/app/queue-board.ts'
import routes from './routes/index.ts'
import { clientErrorHandler, frameworkErrors } from './lib/framework-errors.ts'
import { trustFunction } from './lib/client-address.ts'
import { withTimeout } from './lib/with-timeout.ts'

/** What the app is built from; the caller creates these and closes them (Redis clients, Prisma). */
export interface AppOptions {
  config: Config
  /** Request-path Redis client (fails fast while Redis is down). */
  redis: RedisClient
  /** Dedicated Redis connection for the events channel and this node's command replies. */
  subscriber: RedisClient
  /** The database client (`createPrisma(config.DATABASE_URL)`); the schema is migrated beforehand. */
  prisma: PrismaClient
  /** Resolves when the database answers; rejects otherwise. Default: `SELECT 1` through `prisma`. */
  checkDatabase?: () => Promise<void>
  /** The clock caches age by; tests pass a fake one. Default: Date.now. */
  now?: () => number
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    redis: RedisClient
    prisma: PrismaClient
  }
}

/** Fastify server options the app relies on (merge a logger in); shared by server.ts and the tests. */
export function serverOptions (config: Config): FastifyHttpOptions<Server> {
  const { trustProxy } = config
  return {
    // A hop count trusts that many proxies from the socket's peer outwards; Socket.IO handshakes
    // read their address with the same function (lib/client-address.ts).
    trustProxy: trustProxy === false ? false : trustFunction(trustProxy),
    // JSON bodies stay small; uploads go through multipart with their own limit.
    bodyLimit: 1024 * 1024,
    // In-flight requests finish on close; keep-alive clients are told 503 meanwhile.
    return503OnClosing: true,
    // One line per request, when it completes (see app()), instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // Errors raised before routing (bad URL, oversized path segment, parser errors) answer in the envelope too.
    frameworkErrors,
    clientErrorHandler,
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    connectionTimeout: config.CONNECTION_TIMEOUT_MS,
    // Node looks for overdue requests at this interval (30 s by default, coarser than a short timeout).
    http: {
      headersTimeout: Math.min(60_000, config.REQUEST_TIMEOUT_MS),
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(config.REQUEST_TIMEOUT_MS / 4)))
    },
    ajv: { customOptions: { coerceTypes: 'array', useDefaults: true, removeAdditional: true, allErrors: false } }
  }
}

/**
 * The whole API as a Fastify plugin. Register it wrapped in fastify-plugin, so the error
 * handler and decorators land on the root instance:
 * `fastify.register(fp(app), { config, redis, subscriber, prisma })`.
 */
export default async function app (fastify: FastifyInstance, opts: AppOptions) {
  const { prisma } = opts
  fastify.decorate('config', opts.config)
  fastify.decorate<RedisClient>('redis', opts.redis)
  fastify.decorate('prisma', prisma)

  // Failed requests are logged at info, the others at debug: an access log of every success belongs
  // to the proxy in front, and writing it here cost a third of a node's throughput.
  fastify.addHook('onResponse', (request, reply, done) => {
    const level = reply.statusCode >= 400 ? 'info' : 'debug'
    request.log[level]({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
    done()
  })
  await fastify.register(errorHandler)
  await fastify.register(responseHeaders)
  // Prisma's first query sets up its query compiler (0.3–2 s of CPU on a loaded host): paid once at
  // start, not by the first readiness probe (whose 1 s bound it would exceed). A database that is
  // down at start is not fatal: /readyz answers 503 and the node recovers when it returns.
  fastify.addHook('onReady', async () => {
    await withTimeout(prisma.$queryRaw`SELECT 1`, 10_000, 'database warm-up')
      .catch((err: unknown) => fastify.log.warn({ err }, 'database not reachable at start'))
  })
  await fastify.register(readiness, {
    redis: opts.redis,
    checkDatabase: opts.checkDatabase ?? (async () => { await prisma.$queryRaw`SELECT 1` })
  })
  await fastify.register(eventRelay, { subscriber: opts.subscriber })
  await fastify.register(apiKeys, { subscriber: opts.subscriber })
  await fastify.register(metrics)
  await fastify.register(auth)
  await fastify.register(keyAccess)

  // Services: handlers call these, never Prisma or Redis directly.
  await fastify.register(webhooks, { subscriber: opts.subscriber })
  await fastify.register(eventPublisher)
  await fastify.register(commandBus, { subscriber: opts.subscriber })
  await fastify.register(sessions, opts.now === undefined ? {} : { now: opts.now })
  await fastify.register(statuses)
  await fastify.register(audienceLists)
  await fastify.register(analytics, opts.now === undefined ? {} : { now: opts.now })
  await fastify.register(contacts)
  await fastify.register(uploads)
  await fastify.register(health)

  // Swagger first: it collects routes as they are added.
  await fastify.register(swagger)
  await fastify.register(rateLimit)
  await fastify.register(cors)
  await fastify.register(websocket)

  await fastify.register(socketIoRelay)
  await fastify.register(eventStream)
  await fastify.register(eventClients)
  await fastify.register(queueBoard)

  await fastify.register(routes)
}
