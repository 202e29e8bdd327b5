import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ListQuerySchema, Ok } from '@wss/shared'
import { apiResponses } from '../../schemas/responses.ts'
import { OkList } from '../../schemas/lists.ts'
import { ApiKeySchema, CreatedApiKeySchema, CreateKeyBodySchema, KeyIdParamsSchema, KeyRevokedSchema } from '../../schemas/keys.ts'
import { readPage } from '../../lib/cursor.ts'
import { fieldError } from '../../lib/validation.ts'

// The app coerces a lone value into an array (`coerceTypes: 'array'`), which would turn a misspelt
// "all" into a key for one session of that name: refuse it before validation does that.
async function refuseLoneSessionString (request: { body: unknown }): Promise<void> {
  const sessions = (request.body as { scope?: { sessions?: unknown } } | null)?.scope?.sessions
  if (typeof sessions === 'string' && sessions !== 'all' && sessions !== '*') {
    throw fieldError('body.scope.sessions', 'must be "all" (or "*") or an array of session ids and "prefix*" patterns')
  }
}

const tags = ['keys']
// Every route here is for admin keys only (`authorize` answers 403 to scoped keys).
const config = { adminOnly: true }

/** `/api/keys`: scoped keys, managed with an admin key (`API_KEY`). */
const keys: FastifyPluginAsyncTypebox = async fastify => {
  const service = fastify.apiKeys

  fastify.post('/', {
    prefixTrailingSlash: 'no-slash',
    config,
    preValidation: refuseLoneSessionString,
    schema: {
      tags,
      summary: 'Create a scoped key (admin keys only)',
      description: 'Answers 201 with the key in `key`: it is shown only here (the server keeps its SHA-256). ' +
        'The key sees only the sessions of `scope.sessions` and, with `access: read`, may only read.',
      body: CreateKeyBodySchema,
      response: apiResponses({ 201: Ok(CreatedApiKeySchema) }, [400, 403, 503])
    }
  }, async (request, reply) => reply.code(201).send({ success: true, data: await service.create(request.body) }))

  fastify.get('/', {
    prefixTrailingSlash: 'no-slash',
    config,
    schema: {
      tags,
      summary: 'List scoped keys (admin keys only)',
      description: 'Oldest first, never the key or its hash. Without `limit` and `cursor` the whole list.',
      querystring: ListQuerySchema,
      response: apiResponses({ 200: OkList(ApiKeySchema) }, [400, 403, 503])
    }
  }, async request => {
    const { items, nextCursor } = await service.list(readPage(request.query))
    return { success: true as const, data: items, ...(nextCursor === undefined ? {} : { nextCursor }) }
  })

  fastify.get('/:id', {
    config,
    schema: {
      tags,
      summary: 'One scoped key (admin keys only)',
      params: KeyIdParamsSchema,
      response: apiResponses({ 200: Ok(ApiKeySchema) }, [400, 403, 404, 503])
    }
  }, async request => ({ success: true as const, data: await service.get(request.params.id) }))

  fastify.delete('/:id', {
    config,
    schema: {
      tags,
      summary: 'Revoke a scoped key (admin keys only)',
      description: 'Every API node refuses the key from now on (401), and closes its Socket.IO and WebSocket streams. ' +
        'Uploads it made stay, usable by admin keys only.',
      params: KeyIdParamsSchema,
      response: apiResponses({ 200: Ok(KeyRevokedSchema) }, [400, 403, 404, 503])
    }
  }, async request => ({ success: true as const, data: await service.revoke(request.params.id) }))
}

export default keys
