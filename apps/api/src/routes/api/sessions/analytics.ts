import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Ok, SessionIdParamsSchema, StatusIdParamsSchema } from '@wss/shared'
import { apiResponses } from '../../../schemas/responses.ts'
import { OkList } from '../../../schemas/lists.ts'
import {
  SessionAnalyticsQuerySchema, SessionAnalyticsSchema, SessionViewerSchema, SessionViewersQuerySchema, StatusAnalyticsSchema
} from '../../../schemas/analytics.ts'
import { readPage } from '../../../lib/cursor.ts'
import { onePage, sendCsv } from '../../../lib/csv.ts'
import { allPages } from '../../../plugins/app/analytics/viewer-export.ts'
import { seriesCsv } from './analytics-csv.ts'

const tags = ['analytics']
const DEFINITIONS = 'Every figure counts the statuses posted (sent) in the period, by their post time, with all their views ' +
  'whenever they came. `views`: viewer rows, one per (status, viewer). `uniqueViewers`: distinct numbers. `audience`: ' +
  'recipients but the own number, summed over statuses. `reach` = views ÷ audience. Time to first view: a viewer\'s ' +
  'first view − the post time. Figures outlive the raw rows (RETENTION_DAYS) in rollups kept ANALYTICS_RETENTION_DAYS. ' +
  'See docs/analytics.md.'

/** `/api/sessions/:sessionId/analytics`, `.../statuses/:statusId/analytics` and `/api/sessions/:sessionId/viewers`. */
const analytics: FastifyPluginAsyncTypebox = async fastify => {
  const service = fastify.analytics

  fastify.get('/:sessionId/analytics', {
    schema: {
      tags,
      summary: 'A session\'s viewer analytics over a range',
      description: `${DEFINITIONS} The range is widened to whole UTC hours; \`series\` has a point per hour (UTC) or per local ` +
        'day in `tz` (a day of a half-hour zone takes each UTC hour in the local day it starts in), empty ones included, at most ' +
        '10,000. 400 `VALIDATION` naming `from`, `to` or `tz`. `format=csv`: the series, one row per point.',
      params: SessionIdParamsSchema,
      querystring: SessionAnalyticsQuerySchema,
      response: apiResponses({ 200: Ok(SessionAnalyticsSchema) }, [400, 404, 503])
    }
  }, async (request, reply) => {
    const { sessionId } = request.params
    const data = await service.session(sessionId, request.query)
    if (request.query.format === 'csv') {
      const { header, rows } = seriesCsv(data.series)
      return await sendCsv(reply, `analytics-${sessionId}.csv`, header, onePage(rows))
    }
    return { success: true as const, data }
  })

  fastify.get('/:sessionId/statuses/:statusId/analytics', {
    schema: {
      tags,
      summary: 'One status\'s reach, views over time and time to view',
      description: 'Read from the status\'s own viewer rows, so only while RETENTION_DAYS keeps them (then 404). ' +
        '`audience`: recipients but the own number; `reach` = viewers ÷ audience; percentiles are exact.',
      params: StatusIdParamsSchema,
      response: apiResponses({ 200: Ok(StatusAnalyticsSchema) }, [400, 404, 503])
    }
  }, async request => ({
    success: true as const,
    data: await service.status(request.params.sessionId, request.params.statusId)
  }))

  fastify.get('/:sessionId/viewers', {
    schema: {
      tags,
      summary: 'A session\'s viewers over a range, oldest view first',
      description: 'Every (status, viewer) whose view falls in [from, to) (default: the last 7 days). Paged: `limit` ' +
        '(default 100) and `cursor`. `format=csv` streams the whole range (paging ignored).',
      params: SessionIdParamsSchema,
      querystring: SessionViewersQuerySchema,
      response: apiResponses({ 200: OkList(SessionViewerSchema) }, [400, 404, 503])
    }
  }, async (request, reply) => {
    const { sessionId } = request.params
    const range = service.viewersRange(request.query)
    if (request.query.format === 'csv') {
      const pages = allPages(page => service.sessionViewers(sessionId, range, page))
      const rows = (async function * () { for await (const items of pages) yield items.map(v => [v.statusId, v.viewerNumber, v.viewedAt]) })()
      return await sendCsv(reply, `viewers-${sessionId}.csv`, ['statusId', 'viewerNumber', 'viewedAt'], rows)
    }
    const page = readPage(request.query) ?? { take: 100, after: null }
    const { items, nextCursor } = await service.sessionViewers(sessionId, range, page)
    return { success: true as const, data: items, nextCursor }
  })
}

export default analytics
