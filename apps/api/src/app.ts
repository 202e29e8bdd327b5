import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import type { Redis } from 'ioredis'
import type { Config } from './config.ts'
import errorHandler from './plugins/app/error-handler.ts'
import readiness from './plugins/app/readiness.ts'
import eventRelay from './plugins/app/event-relay.ts'
import auth from './plugins/app/auth.ts'
import socketIoRelay from './plugins/app/socket-io-relay.ts'
import eventStream from './plugins/app/event-stream.ts'
import swagger from './plugins/external/swagger.ts'
import rateLimit from './plugins/external/rate-limit.ts'
import multipart from './plugins/external/multipart.ts'
import websocket from './plugins/external/websocket.ts'
import routes from './routes/index.ts'

/** What the app is built from; the caller creates these and closes the Redis clients. */
export interface AppOptions {
  config: Config
  /** Request-path Redis client (fails fast while Redis is down). */
  redis: Redis
  /** Dedicated Redis connection for the events channel. */
  subscriber: Redis
  /** Resolves when the database answers; rejects otherwise. */
  checkDatabase: () => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    redis: Redis
  }
}

/** Fastify server options the app relies on (merge a logger in); shared by server.ts and the tests. */
export function serverOptions (config: Config): FastifyServerOptions {
  const { trustProxy } = config
  return {
    // A hop count trusts that many proxies from the socket's peer outwards.
    trustProxy: typeof trustProxy === 'number' ? (_address: string, hop: number) => hop < trustProxy : trustProxy,
    // JSON bodies stay small; uploads go through multipart with their own limit.
    bodyLimit: 1024 * 1024,
    // In-flight requests finish on close; keep-alive clients are told 503 meanwhile.
    return503OnClosing: true,
    ajv: { customOptions: { coerceTypes: 'array', useDefaults: true, removeAdditional: true, allErrors: false } }
  }
}

/**
 * The whole API as a Fastify plugin. Register it wrapped in fastify-plugin, so the error
 * handler and decorators land on the root instance:
 * `fastify.register(fp(app), { config, redis, subscriber, checkDatabase })`.
 */
export default async function app (fastify: FastifyInstance, opts: AppOptions) {
  fastify.decorate('config', opts.config)
  fastify.decorate('redis', opts.redis)

  await fastify.register(errorHandler)
  await fastify.register(readiness, { redis: opts.redis, checkDatabase: opts.checkDatabase })
  await fastify.register(eventRelay, { subscriber: opts.subscriber })
  await fastify.register(auth)

  // Swagger first: it collects routes as they are added.
  await fastify.register(swagger)
  await fastify.register(rateLimit)
  await fastify.register(multipart)
  await fastify.register(websocket)

  await fastify.register(socketIoRelay)
  await fastify.register(eventStream)

  await fastify.register(routes)
}
