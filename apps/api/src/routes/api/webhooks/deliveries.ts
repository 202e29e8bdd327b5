import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Ok } from '@wss/shared'
import { ADMIN_SCOPE } from '../../../lib/key-scope.ts'
import { apiResponses } from '../../../schemas/responses.ts'
import { OkList } from '../../../schemas/lists.ts'
import { DeliveriesQuerySchema, DeliveryParamsSchema, DeliverySchema, WebhookIdParamsSchema } from '../../../schemas/webhooks.ts'
import { readPage } from '../../../lib/cursor.ts'

const tags = ['webhooks']

/** `/api/webhooks/:id/deliveries`: what was sent to an endpoint, and sending it again. */
const deliveries: FastifyPluginAsyncTypebox = async fastify => {
  const service = fastify.webhooks.deliveries

  fastify.get('/:id/deliveries', {
    schema: {
      tags,
      summary: 'An endpoint\'s deliveries',
      description: 'Newest first, optionally one `state`; each with its attempts, last status code and error, next attempt time and the first 1 KB of the last answer. ' +
        'Without `limit` and `cursor` the whole list.',
      params: WebhookIdParamsSchema,
      querystring: DeliveriesQuerySchema,
      response: apiResponses({ 200: OkList(DeliverySchema) }, [400, 404, 503])
    }
  }, async request => {
    const { state, ...page } = request.query
    const { items, nextCursor } = await service.list(request.keyScope ?? ADMIN_SCOPE, request.params.id, state, readPage(page))
    return { success: true as const, data: items, ...(nextCursor === undefined ? {} : { nextCursor }) }
  })

  fastify.post('/:id/deliveries/:deliveryId/redeliver', {
    schema: {
      tags,
      summary: 'Send a delivery again',
      description: 'Queues another attempt of a delivered or failed delivery, with the same `webhook-id` (202). A pending one is answered as it is.',
      params: DeliveryParamsSchema,
      response: apiResponses({ 202: Ok(DeliverySchema) }, [400, 403, 404, 503])
    }
  }, async (request, reply) => reply.code(202).send({
    success: true,
    data: await service.redeliver(request.keyScope ?? ADMIN_SCOPE, request.params.id, request.params.deliveryId)
  }))
}

export default deliveries
