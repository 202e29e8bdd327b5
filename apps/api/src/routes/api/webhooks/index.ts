import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ADMIN_SCOPE } from '../../../lib/key-scope.ts'
import { ListQuerySchema, Ok } from '@wss/shared'
import { apiResponses } from '../../../schemas/responses.ts'
import { OkList } from '../../../schemas/lists.ts'
import {
  CreateWebhookBodySchema, DeliverySchema, UpdateWebhookBodySchema, WebhookIdParamsSchema, WebhookSchema, WebhookWithSecretSchema
} from '../../../schemas/webhooks.ts'
import { readPage } from '../../../lib/cursor.ts'
import deliveries from './deliveries.ts'

const tags = ['webhooks']
const WebhookDeletedSchema = Type.Object({ id: Type.String({ format: 'uuid' }), deleted: Type.Literal(true) })

/**
 * `/api/webhooks`: endpoints that receive events as signed POSTs (Standard Webhooks). An admin key
 * sees every endpoint; a scoped key only those it created, whose `sessionIds` stay within its scope.
 */
const webhooks: FastifyPluginAsyncTypebox = async fastify => {
  const { endpoints } = fastify.webhooks
  const scopeOf = (request: { keyScope: typeof ADMIN_SCOPE | null }) => request.keyScope ?? ADMIN_SCOPE

  fastify.post('/', {
    prefixTrailingSlash: 'no-slash',
    schema: {
      tags,
      summary: 'Create a webhook endpoint',
      description: 'Answers 201 with the endpoint and its `secret` (`whsec_…`), shown only here and on rotation. ' +
        'The URL must be http(s) and resolve to public addresses only (400 `URL_NOT_ALLOWED` otherwise). ' +
        'A scoped key must name its sessions in `sessionIds` (unless it sees every session).',
      body: CreateWebhookBodySchema,
      response: apiResponses({ 201: Ok(WebhookWithSecretSchema) }, [400, 403, 503])
    }
  }, async (request, reply) => reply.code(201).send({ success: true, data: await endpoints.create(scopeOf(request), request.body) }))

  fastify.get('/', {
    prefixTrailingSlash: 'no-slash',
    schema: {
      tags,
      summary: 'List webhook endpoints',
      description: 'Oldest first, never a secret. Without `limit` and `cursor` the whole list.',
      querystring: ListQuerySchema,
      response: apiResponses({ 200: OkList(WebhookSchema) }, [400, 503])
    }
  }, async request => {
    const { items, nextCursor } = await endpoints.list(scopeOf(request), readPage(request.query))
    return { success: true as const, data: items, ...(nextCursor === undefined ? {} : { nextCursor }) }
  })

  fastify.get('/:id', {
    schema: { tags, summary: 'One webhook endpoint', params: WebhookIdParamsSchema, response: apiResponses({ 200: Ok(WebhookSchema) }, [400, 404, 503]) }
  }, async request => ({ success: true as const, data: await endpoints.get(scopeOf(request), request.params.id) }))

  fastify.patch('/:id', {
    schema: {
      tags,
      summary: 'Change a webhook endpoint',
      description: 'Only the fields given change; `null` resets `events` / `sessionIds` to everything. `enabled: true` resumes an endpoint the server disabled.',
      params: WebhookIdParamsSchema,
      body: UpdateWebhookBodySchema,
      response: apiResponses({ 200: Ok(WebhookSchema) }, [400, 403, 404, 503])
    }
  }, async request => ({ success: true as const, data: await endpoints.update(scopeOf(request), request.params.id, request.body) }))

  fastify.delete('/:id', {
    schema: {
      tags,
      summary: 'Delete a webhook endpoint',
      description: 'With its deliveries; nothing more is sent to it.',
      params: WebhookIdParamsSchema,
      response: apiResponses({ 200: Ok(WebhookDeletedSchema) }, [400, 403, 404, 503])
    }
  }, async request => ({ success: true as const, data: await endpoints.remove(scopeOf(request), request.params.id) }))

  fastify.post('/:id/rotate-secret', {
    schema: {
      tags,
      summary: 'Rotate an endpoint\'s secret',
      description: 'Answers the new `secret`; every delivery signed from now on uses it, and the old one no longer verifies them.',
      params: WebhookIdParamsSchema,
      response: apiResponses({ 200: Ok(WebhookWithSecretSchema) }, [400, 403, 404, 503])
    }
  }, async request => ({ success: true as const, data: await endpoints.rotateSecret(scopeOf(request), request.params.id) }))

  fastify.post('/:id/test', {
    schema: {
      tags,
      summary: 'Send a test delivery',
      description: 'Queues a `webhook.test` delivery (202); follow it in the endpoint\'s deliveries.',
      params: WebhookIdParamsSchema,
      response: apiResponses({ 202: Ok(DeliverySchema) }, [400, 403, 404, 503])
    }
  }, async (request, reply) => reply.code(202).send({ success: true, data: await fastify.webhooks.deliveries.test(scopeOf(request), request.params.id) }))

  await fastify.register(deliveries)
}

export default webhooks
