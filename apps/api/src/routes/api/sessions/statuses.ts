import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Ok, SessionIdParamsSchema, StatusIdParamsSchema, StatusSchema, ViewerSchema } from '@wss/shared'
import { apiResponses } from '../../../schemas/responses.ts'
import { OkList } from '../../../schemas/lists.ts'
import { SendStatusBodySchema, SendStatusHeadersSchema, StatusListQuerySchema } from '../../../schemas/statuses.ts'
import { readPage } from '../../../lib/cursor.ts'
import { sendCsv } from '../../../lib/csv.ts'
import { ViewerListQuerySchema } from '../../../schemas/analytics.ts'
import { allPages } from '../../../plugins/app/analytics/viewer-export.ts'

const tags = ['statuses']

const SCHEDULING = 'With `scheduledAt` (addition): 202 with the status in state `scheduled`, sent at that time by whichever ' +
  'worker owns the session then (the session need not be connected now; one not connected when due is retried for ' +
  '`SCHEDULE_GRACE_MINUTES`, then the status is `failed`). A `scheduledAt` not in the future is 400 `SCHEDULED_AT_PAST`, ' +
  'more than 30 days ahead 400 `SCHEDULED_AT_TOO_FAR`.'

const AUDIENCE = '`audience` (addition): `{ "type": "contacts" }` posts to every contact saved in the phone\'s address book, ' +
  '`except` some; `{ "type": "list", "id": … }` to a saved list of the session (404 `AUDIENCE_LIST_NOT_FOUND` when it has none ' +
  'with that id); `targetNumbers` may be given as well. The worker resolves it when it sends: own number + contacts or list + ' +
  '`targetNumbers`, duplicates removed, numbers not on WhatsApp dropped and counted in `skipped`; the status records ' +
  '`audienceSize`. An audience that resolves to more than `MAX_AUDIENCE` recipients besides the own number fails the status (422 ' +
  '`AUDIENCE_TOO_LARGE` with `details.statusId`, or `status-failed` after a 202); a list deleted meanwhile fails it too. '

const LIST = 'Scheduled and cancelled statuses are listed only with `state` (addition): `state=scheduled` lists every ' +
  'scheduled status, soonest first, whatever its age.'

const DELETE = 'A scheduled status is cancelled (state `cancelled`, event `status-cancelled`; addition) and never sent; ' +
  'cancelling it again answers it as it is. Any other status is revoked: 409 `SESSION_NOT_CONNECTED` unless the ' +
  'session is connected. Deleting a deleted status answers it as it is.'

/** `/api/sessions/:sessionId/send-status` and `/api/sessions/:sessionId/statuses/...`. */
const statuses: FastifyPluginAsyncTypebox = async fastify => {
  const service = fastify.statuses

  fastify.post('/:sessionId/send-status', {
    schema: {
      tags,
      summary: 'Post a status',
      description: '201 with the status once WhatsApp acknowledged it; 202 with the status (`pending`) when the worker ' +
        'has not answered within `SEND_TIMEOUT_MS` (`status-sent` or `status-failed` follows on the events stream); ' +
        '502 `WHATSAPP_REFUSED` with the reason (`details.statusId`; the status is kept as `failed`). ' +
        'Media fetched from a URL: 400 `BAD_REQUEST` when it cannot be fetched, 415 `UNSUPPORTED_MEDIA_TYPE` when its bytes ' +
        'are not an accepted image/video type (the status is kept as `failed` with the reason). ' +
        'With `Idempotency-Key`, a retry answers the first request\'s status (header `Idempotent-Replayed: true`); ' +
        'the same key with a different request is 422 `IDEMPOTENCY_KEY_REUSED`. More than `MAX_AUDIENCE` numbers in ' +
        '`targetNumbers` is 400. ' + AUDIENCE + SCHEDULING,
      params: SessionIdParamsSchema,
      headers: SendStatusHeadersSchema,
      body: SendStatusBodySchema,
      response: apiResponses({ 201: Ok(StatusSchema), 202: Ok(StatusSchema) }, [400, 404, 409, 415, 422, 502, 503, 504])
    }
  }, async (request, reply) => {
    const result = await service.send(request.params.sessionId, request.body, request.headers['idempotency-key'], request.keyScope ?? undefined)
    if (result.replayed) reply.header('idempotent-replayed', 'true')
    return reply.code(result.statusCode).send({ success: true, data: result.status })
  })

  fastify.get('/:sessionId/statuses', {
    schema: {
      tags,
      summary: 'Statuses of the last 24 hours, newest first',
      description: LIST,
      params: SessionIdParamsSchema,
      querystring: StatusListQuerySchema,
      response: apiResponses({ 200: OkList(StatusSchema) }, [400, 404, 503])
    }
  }, async request => {
    const { items, nextCursor } = await service.list(request.params.sessionId, readPage(request.query), request.query.state)
    return { success: true as const, data: items, ...(nextCursor === undefined ? {} : { nextCursor }) }
  })

  fastify.get('/:sessionId/statuses/:statusId', {
    schema: {
      tags,
      summary: 'One status, whatever its age',
      params: StatusIdParamsSchema,
      response: apiResponses({ 200: Ok(StatusSchema) }, [400, 404, 503])
    }
  }, async request => ({
    success: true as const,
    data: await service.get(request.params.sessionId, request.params.statusId)
  }))

  fastify.get('/:sessionId/statuses/:statusId/viewers', {
    schema: {
      tags,
      summary: 'Who viewed a status, oldest view first',
      description: '`format=csv` streams every viewer as `text/csv` (paging ignored).',
      params: StatusIdParamsSchema,
      querystring: ViewerListQuerySchema,
      response: apiResponses({ 200: OkList(ViewerSchema) }, [400, 404, 503])
    }
  }, async (request, reply) => {
    const { sessionId, statusId } = request.params
    if (request.query.format === 'csv') {
      const pages = allPages(page => service.viewers(sessionId, statusId, page))
      const rows = (async function * () { for await (const items of pages) yield items.map(v => [v.viewerNumber, v.viewedAt]) })()
      return await sendCsv(reply, `viewers-${statusId}.csv`, ['viewerNumber', 'viewedAt'], rows)
    }
    const { items, nextCursor } = await service.viewers(sessionId, statusId, readPage(request.query))
    return { success: true as const, data: items, ...(nextCursor === undefined ? {} : { nextCursor }) }
  })

  fastify.delete('/:sessionId/statuses/:statusId', {
    schema: {
      tags,
      summary: 'Revoke a status on WhatsApp and mark it deleted, or cancel a scheduled one',
      description: DELETE,
      params: StatusIdParamsSchema,
      response: apiResponses({ 200: Ok(StatusSchema) }, [400, 404, 409, 503, 504])
    }
  }, async request => ({
    success: true as const,
    data: await service.remove(request.params.sessionId, request.params.statusId)
  }))
}

export default statuses
