import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ReadyzSchema } from '../schemas/probes.ts'

/** GET /readyz: 200 when the database and Redis answer, 503 naming what is down (or shutting down). */
const readyz: FastifyPluginAsyncTypebox = async fastify => {
  fastify.get('/readyz', {
    schema: {
      tags: ['probes'],
      summary: 'Readiness: database and Redis reachable',
      response: { 200: ReadyzSchema, 503: ReadyzSchema }
    }
  }, async (_request, reply) => {
    const report = await fastify.readiness.check()
    const status = report.ready ? 'ready' : report.shuttingDown ? 'shutting_down' : 'unavailable'
    return reply.code(report.ready ? 200 : 503).send({ status, checks: report.checks })
  })
}

export default readyz
