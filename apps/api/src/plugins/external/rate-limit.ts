import fp from 'fastify-plugin'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import { AppError, redisKeys } from '@wss/shared'
import { batchedStore, createRateCounters } from '../../lib/rate-limit-store.ts'

/**
 * Per-IP rate limit kept in Redis, so the limit holds across API nodes. Registered with
 * `global: false`: the `/api` scope installs it as a hook (`fastify.rateLimit()`), which also
 * covers unknown `/api` routes and the WebSocket upgrade.
 * Counts are kept per node and added to the shared counters every RATE_LIMIT_SYNC_MS (one
 * pipeline, no Redis round trip per request; see rate-limit-store.ts); while Redis is down each
 * node goes on counting alone. With RATE_LIMIT_SYNC_MS=0 every request counts in Redis, and
 * an unreachable Redis lets requests through (`skipOnError`).
 */
export default fp(async function rateLimitPlugin (fastify) {
  const { config } = fastify
  const nameSpace = redisKeys(config.REDIS_PREFIX).rateLimit
  let store: ReturnType<typeof batchedStore> | undefined
  if (config.RATE_LIMIT_SYNC_MS > 0) {
    const log = fastify.log.child({ plugin: 'rate-limit' })
    let lastWarning = 0
    const counters = createRateCounters(fastify.redis, config.RATE_LIMIT_SYNC_MS, err => {
      if (Date.now() - lastWarning < 60_000) return
      lastWarning = Date.now()
      log.warn({ err: (err as Error).message }, 'rate-limit counts not shared (Redis unavailable); counting on this node')
    })
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
    ...(store === undefined ? { redis: fastify.redis, nameSpace } : { store }),
    skipOnError: true,
    // The default generator crashes under injectWS, where there is no IP.
    keyGenerator: request => (request.ip ? (request.ip.includes(':') ? normalizeIP(request.ip) : request.ip) : 'unknown'),
    errorResponseBuilder: (_request, context) =>
      new AppError('RATE_LIMITED', `Rate limit exceeded, retry in ${context.after}`, {
        limit: context.max,
        retryAfterSeconds: Math.ceil(context.ttl / 1000)
      })
  })
}, { name: 'rate-limit', decorators: { fastify: ['redis', 'config'] } })
