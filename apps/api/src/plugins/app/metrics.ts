import fp from 'fastify-plugin'
import { AppError } from '@wss/shared'
import { createApiKeyVerifier } from '../../lib/api-key.ts'
import { createApiMetrics, type ApiMetrics } from '../../lib/metrics.ts'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ApiMetrics
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i

/**
 * Prometheus metrics of this node: every request by route pattern (one `onResponse` hook), rate
 * limit refusals, events relayed, event clients. `GET /metrics` exists only when METRICS_TOKEN is
 * set (else 404), needs `Authorization: Bearer METRICS_TOKEN`, sits outside `/api` (so no rate
 * limit and no API key) and is left out of the OpenAPI document.
 */
export default fp(async function metricsPlugin (fastify) {
  const metrics = createApiMetrics({
    // Read at scrape time: the Socket.IO server and the event stream are registered later.
    socketIoClients: () => (fastify.hasDecorator('io') ? fastify.io.engine.clientsCount : 0),
    webSocketClients: () => (fastify.hasDecorator('eventStream') ? fastify.eventStream.size : 0)
  })
  fastify.decorate('metrics', metrics)

  fastify.addHook('onResponse', (request, reply, done) => {
    const labels = { route: request.routeOptions.url ?? 'unmatched', method: request.method, status: String(reply.statusCode) }
    metrics.httpRequests.inc(labels)
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000)
    done()
  })
  const stop = fastify.events.onEvent(({ event }) => { metrics.eventsRelayed.inc({ event }) })
  fastify.addHook('onClose', async () => { stop() })

  const token = fastify.config.METRICS_TOKEN
  if (token === undefined) return
  const verify = createApiKeyVerifier([token])
  fastify.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    const presented = BEARER.exec(request.headers.authorization ?? '')?.[1]
    if (!verify(presented)) throw new AppError('UNAUTHORIZED', 'Missing or invalid metrics token (Authorization: Bearer METRICS_TOKEN)')
    reply.type(metrics.registry.contentType)
    return metrics.registry.metrics()
  })
}, { name: 'metrics', dependencies: ['event-relay'] })
