import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError, ListQuerySchema, Ok, SessionIdParamsSchema, SessionSchema } from '@wss/shared'
import { inScope } from '../../../lib/key-scope.ts'
import { apiResponses } from '../../../schemas/responses.ts'
import { OkList } from '../../../schemas/lists.ts'
import {
  ConnectionStatusSchema,
  CreateSessionBodySchema,
  PairingCodeSchema,
  PhoneNumberBodySchema,
  SessionDeletedSchema
} from '../../../schemas/sessions.ts'
import { readPage } from '../../../lib/cursor.ts'
import statuses from './statuses.ts'
import statusEdit from './status-edit.ts'
import analytics from './analytics.ts'
import audiences from './audiences.ts'
import contacts from './contacts.ts'

const params = SessionIdParamsSchema
const tags = ['sessions']

type SessionsInstance = Parameters<FastifyPluginAsyncTypebox>[0]

function collectionRoutes (fastify: SessionsInstance): void {
  const service = fastify.sessions

  fastify.post('/', {
    prefixTrailingSlash: 'no-slash',
    schema: {
      tags,
      summary: 'Create a session and start linking it',
      description: 'Answers 201 once the worker has a pairing code or a QR code for it (or is connected), or after ' +
        '`START_WAIT_MS` with the session as it is then. 503 `NO_WORKER` when no worker is alive: the session is ' +
        'kept and starts once one is up. 403 `FORBIDDEN` for a scoped key when the id is outside its scope.',
      body: CreateSessionBodySchema,
      response: apiResponses({ 201: Ok(SessionSchema) }, [400, 403, 409, 503])
    }
  }, async (request, reply) => {
    // Outside the key's scope: 403 before anything is read, so it tells nothing about existing ids.
    if (request.keyScope !== null && !inScope(request.keyScope, request.body.sessionId)) {
      throw new AppError('FORBIDDEN', `This API key may not create session ${request.body.sessionId}: it is outside the key's scope`)
    }
    const session = await service.create(request.body)
    return reply.code(201).send({ success: true, data: session })
  })

  fastify.get('/', {
    prefixTrailingSlash: 'no-slash',
    schema: {
      tags,
      summary: 'List sessions with their connection state',
      description: 'Oldest first; a scoped key lists only its sessions. Without `limit` and `cursor` the whole list.',
      querystring: ListQuerySchema,
      response: apiResponses({ 200: OkList(SessionSchema) }, [400, 503])
    }
  }, async request => {
    const { items, nextCursor } = await service.list(readPage(request.query), request.keyScope ?? undefined)
    return { success: true as const, data: items, ...(nextCursor === undefined ? {} : { nextCursor }) }
  })
}

function sessionReadRoutes (fastify: SessionsInstance): void {
  const service = fastify.sessions

  fastify.get('/:sessionId', {
    schema: {
      tags,
      summary: 'One session',
      params,
      response: apiResponses({ 200: Ok(SessionSchema) }, [400, 404, 503])
    }
  }, async request => ({ success: true as const, data: await service.get(request.params.sessionId) }))

  fastify.get('/:sessionId/connection-status', {
    schema: {
      tags,
      summary: 'Connection state, pairing code and QR code',
      description: '`connected` is true only while the row says connected and the owning worker holds its lease; ' +
        'a connected session whose owner lapsed reports `state: disconnected`.',
      params,
      response: apiResponses({ 200: Ok(ConnectionStatusSchema) }, [400, 404, 503])
    }
  }, request => {
    // Polled hard: answered without a promise when memory holds the status (see connectionStatusNow).
    const now = service.connectionStatusNow(request.params.sessionId)
    if (now !== undefined) return { success: true as const, data: now }
    return service.connectionStatus(request.params.sessionId).then(data => ({ success: true as const, data }))
  })
}

function sessionActionRoutes (fastify: SessionsInstance): void {
  const service = fastify.sessions

  fastify.delete('/:sessionId', {
    schema: {
      tags,
      summary: 'Log out and delete a session with its auth state, statuses and viewers',
      params,
      response: apiResponses({ 200: Ok(SessionDeletedSchema) }, [400, 404, 503, 504])
    }
  }, async request => ({ success: true as const, data: await service.remove(request.params.sessionId) }))

  fastify.post('/:sessionId/restart', {
    schema: {
      tags,
      summary: 'Tear the connection down and reconnect',
      params,
      response: apiResponses({ 200: Ok(SessionSchema) }, [400, 404, 503, 504])
    }
  }, async request => ({ success: true as const, data: await service.restart(request.params.sessionId) }))

  fastify.put('/:sessionId/phone-number', {
    schema: {
      tags,
      summary: 'Change the number a pairing session links with',
      description: '409 when the session links with a QR code (`SESSION_NOT_PAIRING`) or is connected.',
      params,
      body: PhoneNumberBodySchema,
      response: apiResponses({ 200: Ok(SessionSchema) }, [400, 404, 409, 503, 504])
    }
  }, async request => ({
    success: true as const,
    data: await service.updatePhoneNumber(request.params.sessionId, request.body.phoneNumber)
  }))
}

function pairingCodeRoutes (fastify: SessionsInstance): void {
  const service = fastify.sessions

  fastify.get('/:sessionId/pairing-code', {
    schema: {
      tags,
      summary: 'The current pairing code',
      description: '404 `PAIRING_CODE_NOT_FOUND` when there is none (QR session, connected, or not issued yet).',
      params,
      response: apiResponses({ 200: Ok(PairingCodeSchema) }, [400, 404, 503])
    }
  }, async request => ({ success: true as const, data: await service.pairingCode(request.params.sessionId) }))

  fastify.post('/:sessionId/request-pairing-code', {
    schema: {
      tags,
      summary: 'Request a fresh pairing code',
      description: '409 once connected, or for a QR session.',
      params,
      response: apiResponses({ 200: Ok(PairingCodeSchema) }, [400, 404, 409, 503, 504])
    }
  }, async request => ({ success: true as const, data: await service.requestPairingCode(request.params.sessionId) }))
}

/** `/api/sessions` and everything under one session: statuses, analytics and audience lists in their own files. */
const sessions: FastifyPluginAsyncTypebox = async fastify => {
  collectionRoutes(fastify)
  sessionReadRoutes(fastify)
  sessionActionRoutes(fastify)
  pairingCodeRoutes(fastify)
  await fastify.register(statuses)
  await fastify.register(statusEdit)
  await fastify.register(analytics)
  await fastify.register(audiences)
  await fastify.register(contacts)
}

export default sessions
