import fp from 'fastify-plugin'
import cors from '@fastify/cors'

/**
 * CORS for browser clients on other origins, only when CORS_ORIGINS lists them: without it no
 * CORS header is sent and browsers keep other origins out. Preflights are answered before the
 * `/api` hooks, so they need no key; the real request still does.
 */
export default fp(async function corsPlugin (fastify) {
  const origins = fastify.config.corsOrigins
  if (origins.length === 0) return
  await fastify.register(cors, {
    origin: origins.includes('*') ? '*' : origins,
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['content-type', 'x-api-key', 'authorization', 'idempotency-key'],
    exposedHeaders: ['retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'idempotent-replayed'],
    maxAge: 600
  })
}, { name: 'cors', decorators: { fastify: ['config'] } })
