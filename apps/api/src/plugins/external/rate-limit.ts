import fp from 'fastify-plugin'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import { AppError } from '@wss/shared'

/**
 * Per-IP rate limit kept in Redis, so the limit holds across API nodes. Registered with
 * `global: false`: the `/api` scope installs it as a hook (`fastify.rateLimit()`), which also
 * covers unknown `/api` routes and the WebSocket upgrade.
 * If Redis is unreachable the limiter lets requests through (`skipOnError`): an outage of
 * the counter store should not take down routes that do not otherwise need Redis.
 */
export default fp(async function rateLimitPlugin (fastify) {
  const { config } = fastify
  await fastify.register(rateLimit, {
    global: false,
    max: config.RATE_LIMIT_MAX,
    timeWindow: config.RATE_LIMIT_WINDOW_MS,
    redis: fastify.redis,
    nameSpace: `${config.REDIS_PREFIX}:rate-limit:`,
    skipOnError: true,
    // The default generator crashes under injectWS, where there is no IP.
    keyGenerator: request => (request.ip ? normalizeIP(request.ip) : 'unknown'),
    errorResponseBuilder: (_request, context) =>
      new AppError('RATE_LIMITED', `Rate limit exceeded, retry in ${context.after}`, {
        limit: context.max,
        retryAfterSeconds: Math.ceil(context.ttl / 1000)
      })
  })
}, { name: 'rate-limit', decorators: { fastify: ['redis', 'config'] } })
