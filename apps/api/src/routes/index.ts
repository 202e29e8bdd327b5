import type { FastifyInstance } from 'fastify'
import healthz from './healthz.ts'
import readyz from './readyz.ts'
import api from './api/index.ts'

/** Every route; the folders mirror the URLs. */
export default async function routes (fastify: FastifyInstance) {
  await fastify.register(healthz)
  await fastify.register(readyz)
  await fastify.register(api, { prefix: '/api' })
}
