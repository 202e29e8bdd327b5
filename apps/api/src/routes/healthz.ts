import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HealthzSchema } from '../schemas/probes.ts'

/** GET /healthz: liveness. Touches no dependency, so a Redis or database outage never restarts the node. */
const healthz: FastifyPluginAsyncTypebox = async fastify => {
  fastify.get('/healthz', {
    schema: {
      tags: ['probes'],
      summary: 'Liveness',
      response: { 200: HealthzSchema }
    }
  }, async () => ({ status: 'ok' as const }))
}

export default healthz
