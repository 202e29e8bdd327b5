import fp from 'fastify-plugin'
import type { RedisClient } from '@wss/shared'
import { createWebhookFanout, type WebhookFanout } from '@wss/webhooks'
import { createWebhookEndpoints, type WebhookEndpoints } from './webhooks/endpoints.ts'
import { createWebhookDeliveries, type WebhookDeliveries } from './webhooks/deliveries.ts'

export { TEST_EVENT } from './webhooks/deliveries.ts'

/** Webhooks on an API node: its endpoints and deliveries (routes), and the fan-out of the events it raises. */
export interface WebhooksService {
  endpoints: WebhookEndpoints
  deliveries: WebhookDeliveries
  fanout: WebhookFanout
}

declare module 'fastify' {
  interface FastifyInstance {
    webhooks: WebhooksService
  }
}

export interface WebhooksOptions { subscriber: RedisClient }

export default fp<WebhooksOptions>(async function webhooks (fastify, { subscriber }) {
  const log = fastify.log.child({ service: 'webhooks' })
  const fanout = createWebhookFanout({ prisma: fastify.prisma, redis: fastify.redis, subscriber, prefix: fastify.config.REDIS_PREFIX, log })
  const endpoints = createWebhookEndpoints({ prisma: fastify.prisma, fanout, allowPrivate: fastify.config.WEBHOOK_ALLOW_PRIVATE, log })
  const deliveries = createWebhookDeliveries({ prisma: fastify.prisma, fanout, endpoints })
  fastify.decorate('webhooks', { endpoints, deliveries, fanout })
  fastify.addHook('onClose', async () => { await fanout.close() })
}, { name: 'webhooks', decorators: { fastify: ['redis', 'config', 'prisma'] } })
