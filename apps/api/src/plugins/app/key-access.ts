import fp from 'fastify-plugin'
import type { preValidationHookHandler } from 'fastify'
import { AppError } from '@wss/shared'
import { inScope, mayWrite } from '../../lib/key-scope.ts'
import { notFound } from './sessions.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The preValidation hook that holds `/api` requests to their key's scope. */
    authorize: preValidationHookHandler
  }
  interface FastifyContextConfig {
    /** Only admin keys (`API_KEY`) may call the route. */
    adminOnly?: boolean
  }
}

const READS: ReadonlySet<string> = new Set(['GET', 'HEAD'])

/**
 * What a scoped key may do, for every route at once: a session outside its scope is answered as a
 * missing one (404, whatever the method, so a key never learns what exists beyond it); a read key
 * gets 403 on any other method; admin-only routes 403. Routes without a `:sessionId` filter their
 * answers themselves (lists, uploads, health).
 */
export default fp(async function keyAccess (fastify) {
  fastify.decorate('authorize', function authorize (request, _reply, done) {
    const scope = request.keyScope
    if (scope === null || scope.admin) return done()
    if (request.routeOptions.config.adminOnly === true) {
      return done(new AppError('FORBIDDEN', 'Only an admin key (API_KEY) may do this'))
    }
    const { sessionId } = (request.params ?? {}) as { sessionId?: unknown }
    if (typeof sessionId === 'string' && !inScope(scope, sessionId)) return done(notFound(sessionId))
    if (!READS.has(request.method) && !mayWrite(scope)) {
      return done(new AppError('FORBIDDEN', 'This API key is read-only'))
    }
    done()
  } satisfies preValidationHookHandler)
}, { name: 'key-access', dependencies: ['auth'] })
