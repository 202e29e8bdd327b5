import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { notFoundHandler } from '../../plugins/app/error-handler.ts'
import events from './events.ts'
import sessions from './sessions/index.ts'
import uploads from './uploads.ts'
import health from './health.ts'
import keys from './keys.ts'
import webhooks from './webhooks/index.ts'
import statuses from './statuses.ts'

/**
 * The `/api` scope. Its hooks run for every route in it, the WebSocket upgrade and unknown
 * `/api` paths alike: rate limit first (so key guessing is limited too), then the API key, then
 * what that key may see and do (`authorize`: scoped keys).
 * Routes slot in below, one file or folder per URL segment (sessions/, statuses/, upload-*).
 */
const api: FastifyPluginAsyncTypebox = async fastify => {
  fastify.addHook('onRequest', fastify.rateLimit())
  fastify.addHook('onRequest', fastify.authenticate)
  fastify.addHook('preValidation', fastify.authorize)
  fastify.setNotFoundHandler(notFoundHandler)

  await fastify.register(events)
  await fastify.register(sessions, { prefix: '/sessions' })
  await fastify.register(uploads)
  await fastify.register(health)
  await fastify.register(keys, { prefix: '/keys' })
  await fastify.register(webhooks, { prefix: '/webhooks' })
  await fastify.register(statuses, { prefix: '/statuses' })
}

export default api
