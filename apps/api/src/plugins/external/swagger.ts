import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import pkg from '../../../package.json' with { type: 'json' }

/** Security requirement of every `/api` route: either header form of the API key. */
export const API_SECURITY: Array<Record<string, string[]>> = [{ apiKey: [] }, { bearerAuth: [] }]

/** OpenAPI document generated from the route schemas, served at /docs/json with a UI at /docs. */
export default fp(async function swaggerPlugin (fastify) {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'WhatsApp Status Server API',
        version: pkg.version,
        description: 'Every `/api` path needs the API key (`x-api-key` or `Authorization: Bearer`). ' +
          'Responses use the envelope `{ success: true, data }` / `{ success: false, error, code?, details? }`. ' +
          'Events: Socket.IO at `/socket.io` (handshake `auth: { apiKey }`) and a WebSocket at `GET /api/events`.'
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
          bearerAuth: { type: 'http', scheme: 'bearer' }
        }
      },
      tags: [
        { name: 'probes', description: 'Liveness and readiness, no key' },
        { name: 'events', description: 'Realtime event stream' }
      ]
    },
    // Auth is one hook on the /api scope, so the docs derive the requirement from the prefix.
    transform: ({ schema, url }) => {
      if (!url.startsWith('/api') || schema?.security !== undefined) return { schema, url }
      return { schema: { ...schema, security: API_SECURITY }, url }
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'swagger' })
