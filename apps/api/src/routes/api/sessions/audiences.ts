import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ListQuerySchema, Ok, SessionIdParamsSchema } from '@wss/shared'
import { apiResponses } from '../../../schemas/responses.ts'
import { OkList } from '../../../schemas/lists.ts'
import {
  AudienceListDeletedSchema, AudienceListParamsSchema, AudienceListSchema, CreateAudienceListBodySchema, UpdateAudienceListBodySchema
} from '../../../schemas/audiences.ts'
import { readPage } from '../../../lib/cursor.ts'

const tags = ['audiences']

const NUMBERS = '`numbers` are checked as `targetNumbers` are (400 naming `body.numbers[i]`; more than `MAX_AUDIENCE` is 400). ' +
  'A name the session already uses is 409 `AUDIENCE_LIST_EXISTS`.'

/** `/api/sessions/:sessionId/audiences[/:listId]` (addition): saved audience lists. */
const audiences: FastifyPluginAsyncTypebox = async fastify => {
  const service = fastify.audienceLists

  fastify.post('/:sessionId/audiences', {
    schema: {
      tags,
      summary: 'Save an audience list',
      description: 'Answers 201 with the list; post to it with `audience: { "type": "list", "id": … }`. ' + NUMBERS,
      params: SessionIdParamsSchema,
      body: CreateAudienceListBodySchema,
      response: apiResponses({ 201: Ok(AudienceListSchema) }, [400, 403, 404, 409, 503])
    }
  }, async (request, reply) => reply.code(201).send({ success: true, data: await service.create(request.params.sessionId, request.body) }))

  fastify.get('/:sessionId/audiences', {
    schema: {
      tags,
      summary: 'The session\'s saved audience lists',
      description: 'Oldest first. Without `limit` and `cursor` the whole list.',
      params: SessionIdParamsSchema,
      querystring: ListQuerySchema,
      response: apiResponses({ 200: OkList(AudienceListSchema) }, [400, 404, 503])
    }
  }, async request => {
    const { items, nextCursor } = await service.list(request.params.sessionId, readPage(request.query))
    return { success: true as const, data: items, ...(nextCursor === undefined ? {} : { nextCursor }) }
  })

  fastify.get('/:sessionId/audiences/:listId', {
    schema: {
      tags,
      summary: 'One saved audience list',
      description: '404 `AUDIENCE_LIST_NOT_FOUND` when the session has no such list.',
      params: AudienceListParamsSchema,
      response: apiResponses({ 200: Ok(AudienceListSchema) }, [400, 404, 503])
    }
  }, async request => ({ success: true as const, data: await service.get(request.params.sessionId, request.params.listId) }))

  fastify.patch('/:sessionId/audiences/:listId', {
    schema: {
      tags,
      summary: 'Rename a saved audience list or replace its numbers',
      description: 'Only the fields given change; `numbers` replaces the whole list. Statuses not sent yet that use the list ' +
        'reach its numbers as they are when they are sent. ' + NUMBERS,
      params: AudienceListParamsSchema,
      body: UpdateAudienceListBodySchema,
      response: apiResponses({ 200: Ok(AudienceListSchema) }, [400, 403, 404, 409, 503])
    }
  }, async request => ({ success: true as const, data: await service.update(request.params.sessionId, request.params.listId, request.body) }))

  fastify.delete('/:sessionId/audiences/:listId', {
    schema: {
      tags,
      summary: 'Delete a saved audience list',
      description: '409 `AUDIENCE_LIST_IN_USE` (with `details.statusIds`) while a scheduled or pending status of the session ' +
        'uses it: cancel those or change their audience first. Statuses already sent keep what they reached.',
      params: AudienceListParamsSchema,
      response: apiResponses({ 200: Ok(AudienceListDeletedSchema) }, [400, 403, 404, 409, 503])
    }
  }, async request => ({ success: true as const, data: await service.remove(request.params.sessionId, request.params.listId) }))
}

export default audiences
