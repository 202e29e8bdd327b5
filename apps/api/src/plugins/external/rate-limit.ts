import fp from 'fastify-plugin'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import { AppError, redisKeys } from '@wss/shared'
import { batchedStore, createRateCounters, directStore } from '../../lib/rate-limit-store.ts'
import { clientAddress } from '../../lib/client-address.ts'

/**
 * Per-IP rate limit kept in Redis, so the limit holds across API nodes. Registered with
 * `global: false`: the `/api` scope installs it as a hook (`fastify.rateLimit()`), which also
 * covers unknown `/api` routes and the WebSocket upgrade.
 * Counts are kept per node and added to the shared counters every RATE_LIMIT_SYNC_MS (one
 * pipeline, no Redis round trip per request; see rate-limit-store.ts); while Redis is down each
 * node goes on counting alone. With RATE_LIMIT_SYNC_MS=0 every request counts in Redis; a request
 * Redis cannot count is counted on this node instead (never let through uncounted).
 */
export default fp(async function rateLimitPlugin (fastify) {
  const { config } = fastify
  const nameSpace = redisKeys(config.REDIS_PREFIX).rateLimit
  const log = fastify.log.child({ plugin: 'rate-limit' })
  if (config.trustProxy === true) {
    log.warn('TRUST_PROXY=true takes the client address from any X-Forwarded-For; set a hop count or the proxies\' addresses')
  }
  let lastWarning = 0
  const onError = (err: unknown) => {
    if (Date.now() - lastWarning < 60_000) return
    lastWarning = Date.now()
    log.warn({ err: (err as Error).message }, 'rate-limit counts not shared (Redis unavailable); counting on this node')
  }
  let store: ReturnType<typeof batchedStore> | ReturnType<typeof directStore>
  if (config.RATE_LIMIT_SYNC_MS === 0) {
    store = directStore(fastify.redis, nameSpace, onError)
  } else {
    const counters = createRateCounters(fastify.redis, config.RATE_LIMIT_SYNC_MS, onError)
    store = batchedStore(counters, nameSpace)
    fastify.addHook('onClose', async () => {
      await counters.sync().catch(() => undefined)
      counters.close()
    })
  }
  await fastify.register(rateLimit, {
    global: false,
    max: config.RATE_LIMIT_MAX,
    timeWindow: config.RATE_LIMIT_WINDOW_MS,
    store,
    // Both stores count locally when Redis fails; an error left is a bug, not a reason to let requests through.
    skipOnError: false,
    // A validated address (see clientAddress); IPv6 clients are counted per /56 like the default.
    keyGenerator: request => {
      const ip = clientAddress(request)
      return ip.includes(':') ? normalizeIP(ip) : ip
    },
    // Counted here, not by status: an upload over its quota is a 429 too, and is no rate limiting.
    onExceeded: request => { if (request.server.hasDecorator('metrics')) request.server.metrics.rateLimited.inc() },
    errorResponseBuilder: (_request, context) =>
      new AppError('RATE_LIMITED', `Rate limit exceeded, retry in ${context.after}`, {
        limit: context.max,
        retryAfterSeconds: Math.ceil(context.ttl / 1000)
      })
  })
}, { name: 'rate-limit', decorators: { fastify: ['redis', 'config'] } })
