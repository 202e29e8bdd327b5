import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppError, SESSION_ID_PATTERN } from '@wss/shared'
import { apiResponses } from '../../schemas/responses.ts'
import { parseSessionIds, SessionFilter, MAX_FILTER_SESSIONS } from '../../lib/session-filter.ts'

const ID = SESSION_ID_PATTERN.slice(1, -1)

const EventsQuerySchema = Type.Object({
  sessionId: Type.Optional(Type.String({
    pattern: `^${ID}(,${ID})*$`,
    description: 'Only events of these sessions (one id or comma-separated); all sessions when absent'
  })),
  apiKey: Type.Optional(Type.String({
    description: 'The API key, for browsers, whose WebSocket API cannot set headers. Prefer a header elsewhere.'
  }))
})

/** GET /api/events: the event stream as WebSocket JSON frames `{ event, data }`. */
const events: FastifyPluginAsyncTypebox = async fastify => {
  fastify.route({
    method: 'GET',
    url: '/events',
    config: { allowQueryApiKey: true },
    schema: {
      tags: ['events'],
      summary: 'Event stream (WebSocket)',
      description: 'Upgrade to a WebSocket to receive every event as a frame `{ "event": NAME, "data": PAYLOAD }`. ' +
        'Send `{"action":"subscribe","sessionId":"ID"}` or `{"action":"unsubscribe","sessionId":"ID"}` to change ' +
        'the filter; each is answered with `{ "success": true, "action", "data": { "all", "sessionIds" } }`. ' +
        'The first subscribe narrows an unfiltered stream to the named sessions. A scoped key receives only its ' +
        'sessions\' events, whatever it subscribes to. `webhook-disabled` `{ webhookId, reason }` (an endpoint the server disabled: ' +
        '`gone` or `failing`) belongs to no session: it reaches admin-key clients that take every session. A plain GET answers 426.',
      querystring: EventsQuerySchema,
      response: apiResponses({}, [400, 426, 503])
    },
    preHandler: async request => {
      if (request.ws) fastify.eventClients.admit()
      const { sessionId } = request.query
      if (sessionId !== undefined && parseSessionIds(sessionId) === null) {
        const message = `must name at most ${MAX_FILTER_SESSIONS} sessions`
        throw new AppError('VALIDATION', `querystring.sessionId ${message}`, [{ field: 'querystring.sessionId', message }])
      }
    },
    handler: async () => {
      throw new AppError('UPGRADE_REQUIRED', 'GET /api/events only speaks WebSocket: send an Upgrade request')
    },
    wsHandler: (socket, request) => {
      const { sessionId } = request.query as { sessionId?: string }
      // Checked in preHandler, before the upgrade.
      const filter = new SessionFilter(sessionId === undefined ? null : parseSessionIds(sessionId))
      fastify.eventStream.attach(socket, filter, request.log, request.keyScope ?? undefined)
    }
  })
}

export default events
