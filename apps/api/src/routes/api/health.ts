import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Ok } from '@wss/shared'
import { apiResponses } from '../../schemas/responses.ts'
import { HealthSchema, type Health } from '../../schemas/health.ts'
import { inScope, type KeyScope } from '../../lib/key-scope.ts'

// A scoped key sees its own sessions' storage; deployment-wide figures are for admin keys.
function forKey (report: Health, scope: KeyScope | null): Health {
  if (scope === null || scope.admin) return report
  return {
    ...report,
    stats: { sessions: null, statuses: null, viewers: null, uploads: null, queues: null },
    workers: null,
    storage: report.storage === null ? null : report.storage.filter(s => inScope(scope, s.sessionId))
  }
}

/** GET /api/health: dependencies, aggregate stats and per-session storage. Always 200; read `status`. */
const health: FastifyPluginAsyncTypebox = async fastify => {
  fastify.get('/health', {
    schema: {
      tags: ['health'],
      summary: 'Dependencies, stats and storage',
      description: 'Always 200 while the node runs; `status` is `degraded` when the database or Redis is down or no ' +
        'worker is alive, and the parts that could not be read are null. `storage` is measured by the database ' +
        '(`pg_column_size` of each session\'s rows). For probes use `/healthz` and `/readyz`. ' +
        'A scoped key gets `storage` of its own sessions only, every part of `stats` null and `workers` null.',
      response: apiResponses({ 200: Ok(HealthSchema) })
    }
  }, async request => ({ success: true as const, data: forKey(await fastify.health.report(), request.keyScope) }))
}

export default health
