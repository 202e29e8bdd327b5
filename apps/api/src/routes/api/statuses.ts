import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Ok } from '@wss/shared'
import { apiResponses } from '../../schemas/responses.ts'
import { MultiPostBodySchema, MultiPostResultSchema, SendStatusHeadersSchema } from '../../schemas/statuses.ts'

const DESCRIPTION = 'The fields of `send-status` plus `sessionIds`: a list of session ids, or `"all"` (every session the ' +
  'API key may use that is connected now; none: 409 `NO_CONNECTED_SESSIONS`). Everything is checked before any status is ' +
  'stored: sessions outside a scoped key\'s scope are 403 `FORBIDDEN`, unknown ones 404 `SESSION_NOT_FOUND`, listed ' +
  'sessions not connected 409 `SESSION_NOT_CONNECTED` (each naming them in `details.sessionIds`), unless `scheduledAt` is ' +
  'given. Answers 202 with one status id per session, at once: each status then follows the normal lifecycle on its own ' +
  'session (its worker\'s pacing, `status-sent` / `status-failed` / `status-progress` events; a scheduled one is sent at ' +
  'its time). `audience` is resolved per session when each status is sent; a `list` audience needs exactly one session ' +
  '(a list belongs to one session; 400 otherwise) that has it (404 `AUDIENCE_LIST_NOT_FOUND` otherwise). `"all"` stands for ' +
  'at most 1000 connected sessions, like a list (400 naming `sessionIds` beyond). A status whose send cannot be queued ' +
  'is answered `failed` with its `error` (and `status-failed`); when none can be, nothing is posted: 503 naming each ' +
  'session in `details.sessions`. `Idempotency-Key` applies to the whole request: a retry ' +
  'with the same body answers the same status ids (header `Idempotent-Replayed: true`), a different body 422 ' +
  '`IDEMPOTENCY_KEY_REUSED`.'

/** `POST /api/statuses` (addition): one post from many sessions. */
const statuses: FastifyPluginAsyncTypebox = async fastify => {
  fastify.post('/', {
    prefixTrailingSlash: 'no-slash',
    schema: {
      tags: ['statuses'],
      summary: 'Post a status from many sessions at once',
      description: DESCRIPTION,
      headers: SendStatusHeadersSchema,
      body: MultiPostBodySchema,
      response: apiResponses({ 202: Ok(MultiPostResultSchema) }, [400, 403, 404, 409, 422, 503])
    }
  }, async (request, reply) => {
    const result = await fastify.statuses.post(request.body, request.headers['idempotency-key'], request.keyScope ?? undefined)
    if (result.replayed) reply.header('idempotent-replayed', 'true')
    return reply.code(202).send({ success: true, data: { statuses: result.statuses } })
  })
}

export default statuses
