import fp from 'fastify-plugin'
import type { onRequestHookHandler } from 'fastify'
import { SECURITY_HEADERS } from '../../lib/framework-errors.ts'

/**
 * `Cache-Control: no-store` and `X-Content-Type-Options: nosniff` on every answer outside the
 * docs UI (whose static files may be cached): API answers carry session data and pairing codes
 * that no shared cache should keep, and JSON must never be sniffed into something else.
 * Set in onRequest, so 401s, 429s and 404s carry them as well.
 */
export default fp(async function responseHeaders (fastify) {
  fastify.addHook('onRequest', function setHeaders (request, reply, done) {
    if (!request.url.startsWith('/docs')) void reply.headers(SECURITY_HEADERS)
    done()
  } satisfies onRequestHookHandler)
}, { name: 'response-headers' })
