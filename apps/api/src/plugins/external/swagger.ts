import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { ErrorCodes, ErrorEnvelopeSchema } from '@wss/shared'
import pkg from '../../../package.json' with { type: 'json' }

// Generated from the one table of codes, so the docs list every code a client can meet.
const ERROR_CODES = Object.entries(ErrorCodes).map(([code, status]) => `\`${code}\` ${status}`).join(', ')

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A multipart upload route: documents its one file field (the body is read as a stream, not validated). */
    multipartFile?: { field: string, description: string }
  }
}

/** Security requirement of every `/api` route: either header form of the API key. */
const API_SECURITY: Array<Record<string, string[]>> = [{ apiKey: [] }, { bearerAuth: [] }]

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
          'Events: Socket.IO at `/socket.io` (handshake `auth: { apiKey }`) and a WebSocket at `GET /api/events`. ' +
          `Error codes (\`code\`, HTTP status): ${ERROR_CODES}. Any request may also meet 408 \`REQUEST_TIMEOUT\`, ` +
          '414 `URI_TOO_LONG` and 431 `HEADERS_TOO_LARGE`, raised before routing. ' +
          'Access keys: the keys of `API_KEY` are admin keys; scoped keys (`/api/keys`) see only their sessions: ' +
          'any other session answers 404 `SESSION_NOT_FOUND` as if missing, lists and event streams hold only theirs, ' +
          'and a read-only key gets 403 `FORBIDDEN` on every method but GET.'
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
          bearerAuth: { type: 'http', scheme: 'bearer' }
        }
      },
      tags: [
        { name: 'sessions', description: 'WhatsApp sessions: create, link, inspect, restart, delete' },
        { name: 'statuses', description: 'Post statuses (from one session or many at once), list them, read their viewers, revoke them' },
        { name: 'audiences', description: 'Saved audience lists of a session, posted to with `audience: { "type": "list", "id": … }`' },
        { name: 'contacts', description: 'The linked phone\'s contacts: address book, push names, LIDs' },
        { name: 'uploads', description: 'Media to post as image and video statuses' },
        { name: 'health', description: 'Dependencies, stats and storage' },
        { name: 'events', description: 'Realtime event stream' },
        { name: 'keys', description: 'Scoped access keys, managed with an admin key' },
        { name: 'webhooks', description: 'Endpoints that receive events as signed POSTs (Standard Webhooks), their deliveries and retries' },
        { name: 'probes', description: 'Liveness and readiness, no key' }
      ]
    },
    // Auth is one hook on the /api scope, so the docs derive the requirement from the prefix.
    transform: ({ schema, url, route }) => {
      let out = schema
      const upload = route.config?.multipartFile
      if (upload !== undefined && out?.body === undefined) {
        out = {
          ...out,
          body: {
            type: 'object',
            required: [upload.field],
            properties: { [upload.field]: { type: 'string', format: 'binary', description: upload.description } }
          }
        }
      }
      if (url.startsWith('/api') && out?.security === undefined) out = { ...out, security: API_SECURITY }
      // Any write answers 403 FORBIDDEN to a read-only scoped key (the `authorize` hook of /api).
      const writes = [route.method].flat().some(m => m !== 'GET' && m !== 'HEAD')
      const response = out?.response as Record<string, unknown> | undefined
      if (url.startsWith('/api') && writes && response !== undefined && response['403'] === undefined) {
        out = { ...out, response: { ...response, 403: { ...ErrorEnvelopeSchema, description: 'FORBIDDEN: the key is read-only (or may not do this)' } } }
      }
      return { schema: out, url }
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'swagger' })
