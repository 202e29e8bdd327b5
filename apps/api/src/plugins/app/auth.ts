import fp from 'fastify-plugin'
import type { FastifyRequest, onRequestHookHandler } from 'fastify'
import { AppError } from '@wss/shared'
import { createApiKeyVerifier, extractApiKey } from '../../lib/api-key.ts'
import { ADMIN_SCOPE, looksLikeScopedKey, type KeyScope } from '../../lib/key-scope.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** True when `candidate` is one of the configured API keys (constant time). */
    verifyApiKey: (candidate: unknown) => boolean
    /** The scope of a presented key: an admin key's at once, a scoped key's from Postgres (cached); null when unknown. */
    resolveApiKey: (candidate: unknown) => KeyScope | null | Promise<KeyScope | null>
    /** The onRequest hook that guards `/api`: 401 in the envelope without a valid key. */
    authenticate: onRequestHookHandler
  }
  interface FastifyContextConfig {
    /** Also accept `?apiKey=` (browsers cannot set headers on a WebSocket). */
    allowQueryApiKey?: boolean
  }
  interface FastifyRequest {
    /** What the request's key may see and do; set by `authenticate` on every `/api` request. */
    keyScope: KeyScope | null
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
  const { apiKeys } = fastify
  const resolve = (candidate: unknown) => {
    if (verify(candidate)) return ADMIN_SCOPE
    return looksLikeScopedKey(candidate) ? apiKeys.lookup(candidate) : null
  }
  fastify.decorate('verifyApiKey', verify)
  fastify.decorate('resolveApiKey', resolve)
  fastify.decorateRequest('keyScope', null)
  // Callback style: an async hook costs a promise and a microtask on every request (admin keys
  // are answered without one).
  fastify.decorate('authenticate', function authenticate (request, reply, done) {
    const accept = (scope: KeyScope | null) => {
      if (scope !== null) {
        request.keyScope = scope
        return done()
      }
      reply.header('www-authenticate', 'Bearer realm="api"')
      done(new AppError('UNAUTHORIZED'))
    }
    const scope = resolve(presentedKey(request))
    if (!(scope instanceof Promise)) return accept(scope)
    scope.then(accept, done)
  } satisfies onRequestHookHandler)
}, { name: 'auth', dependencies: ['api-keys'] })
