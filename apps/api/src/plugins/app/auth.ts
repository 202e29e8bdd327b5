import fp from 'fastify-plugin'
import type { FastifyRequest, onRequestHookHandler } from 'fastify'
import { AppError } from '@wss/shared'
import { createApiKeyVerifier, extractApiKey } from '../../lib/api-key.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** True when `candidate` is one of the configured API keys (constant time). */
    verifyApiKey: (candidate: unknown) => boolean
    /** The onRequest hook that guards `/api`: 401 in the envelope without a valid key. */
    authenticate: onRequestHookHandler
  }
  interface FastifyContextConfig {
    /** Also accept `?apiKey=` (browsers cannot set headers on a WebSocket). */
    allowQueryApiKey?: boolean
  }
}

// The x-api-key header read from the raw header list: `request.headers` is built on first use
// (every header name lowercased and merged), which connection-status would otherwise pay for this
// alone. undefined when absent, empty or sent twice: `request.headers` then decides, as before.
function rawApiKeyHeader (rawHeaders: string[]): string | undefined {
  let found: string | undefined
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    if (name.length !== 9 || name.toLowerCase() !== 'x-api-key') continue
    if (found !== undefined) return undefined
    found = rawHeaders[i + 1]
  }
  return found === '' ? undefined : found
}

function presentedKey (request: FastifyRequest): string | undefined {
  const raw = rawApiKeyHeader(request.raw.rawHeaders ?? [])
  if (raw !== undefined) return raw
  const fromHeaders = extractApiKey(request.headers)
  if (fromHeaders !== undefined) return fromHeaders
  if (request.routeOptions.config.allowQueryApiKey === true) {
    const query = request.query as { apiKey?: unknown } | undefined
    if (typeof query?.apiKey === 'string') return query.apiKey
  }
  return undefined
}

/** API key authentication: one verifier for HTTP, WebSocket and Socket.IO. */
export default fp(async function auth (fastify) {
  const verify = createApiKeyVerifier(fastify.config.apiKeys)
  fastify.decorate('verifyApiKey', verify)
  // Callback style: an async hook costs a promise and a microtask on every request.
  fastify.decorate('authenticate', function authenticate (request, reply, done) {
    if (verify(presentedKey(request))) return done()
    reply.header('www-authenticate', 'Bearer realm="api"')
    done(new AppError('UNAUTHORIZED'))
  } satisfies onRequestHookHandler)
}, { name: 'auth' })
