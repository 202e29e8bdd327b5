import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Ok } from '@wss/shared'
import { apiResponses } from '../../schemas/responses.ts'
import { HealthSchema } from '../../schemas/health.ts'

/** GET /api/health: dependencies, aggregate stats and per-session storage. Always 200; read `status`. */
const health: FastifyPluginAsyncTypebox = async fastify => {
  fastify.get('/health', {
    schema: {
      tags: ['health'],
      summary: 'Dependencies, stats and storage',
      description: 'Always 200 while the node runs; `status` is `degraded` when the database or Redis is down or no ' +
        'worker is alive, and the parts that could not be read are null. `storage` is measured by the database ' +
        '(`pg_column_size` of each session\'s rows). For probes use `/healthz` and `/readyz`.',
      response: apiResponses({ 200: Ok(HealthSchema) })
    }
  }, async () => ({ success: true as const, data: await fastify.health.report() }))
}

export default health
