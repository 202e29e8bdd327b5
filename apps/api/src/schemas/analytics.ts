import { Type, type Static, type TSchema } from 'typebox'

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

/** `format` of the routes that also answer CSV. */
export const FormatSchema = Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')], {
  description: '`csv`: the same data as an RFC 4180 `text/csv` attachment, streamed (cells starting with `=`, `+`, `-`, `@`, tab or CR are prefixed with `\'`)'
}))

const RangeProperties = {
  from: Type.Optional(Type.String({ maxLength: 40, description: 'ISO 8601, UTC unless it carries an offset; rounded down to the hour. Default: `to` minus 7 days' })),
  to: Type.Optional(Type.String({ maxLength: 40, description: 'ISO 8601 (exclusive), rounded up to the hour. Default: now' }))
}

/** Query of `GET /api/sessions/:sessionId/analytics`. */
export const SessionAnalyticsQuerySchema = Type.Object({
  ...RangeProperties,
  interval: Type.Optional(Type.Union([Type.Literal('hour'), Type.Literal('day')], { description: 'Series step; default `day`' })),
  tz: Type.Optional(Type.String({ maxLength: 64, description: 'IANA time zone of the day boundaries (`interval=day`); default UTC' })),
  top: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'How many top viewers; default 10' })),
  format: FormatSchema
})
export type SessionAnalyticsQuery = Static<typeof SessionAnalyticsQuerySchema>

const FiguresProperties = {
  statuses: Type.Integer({ description: 'Statuses posted (sent) in the period' }),
  statusesByType: Type.Record(Type.String(), Type.Integer(), { description: 'Statuses posted, by type' }),
  audience: Type.Integer({ description: 'Recipients of those statuses, the own number left out, summed over the statuses' }),
  views: Type.Integer({ description: 'Viewer rows of those statuses: one per (status, viewer), whenever the view came' }),
  uniqueViewers: Type.Integer({ description: 'Distinct viewer numbers over those statuses' }),
  reach: Nullable(Type.Number({ description: 'views ÷ audience: the share of (status, recipient) pairs that viewed; null without audience' })),
  medianTimeToFirstViewMs: Nullable(Type.Integer({
    description: 'Median of (a viewer\'s first view − the status\'s post time) over the views, from a fixed-bucket histogram (interpolated within the bucket); null without views'
  }))
}

const TopViewerSchema = Type.Object({
  viewerNumber: Type.String(),
  statusesViewed: Type.Integer({ description: 'Statuses of the period this number viewed' }),
  lastViewedAt: Type.String({ format: 'date-time' })
})

/** Answer of `GET /api/sessions/:sessionId/analytics`. */
export const SessionAnalyticsSchema = Type.Object({
  range: Type.Object({ from: Type.String(), to: Type.String(), interval: Type.String(), tz: Type.String() }, { description: 'The range as counted: whole hours' }),
  totals: Type.Object(FiguresProperties),
  series: Type.Array(Type.Object({ start: Type.String({ format: 'date-time', description: 'Start of the hour (UTC) or of the local day in `tz`' }), ...FiguresProperties })),
  topViewers: Type.Array(TopViewerSchema, { description: 'Most statuses viewed first, then the latest view' })
})

/** Answer of `GET /api/sessions/:sessionId/statuses/:statusId/analytics`. */
export const StatusAnalyticsSchema = Type.Object({
  statusId: Type.String(),
  sentAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  audience: Type.Integer({ description: 'Recipients, the own number left out' }),
  viewers: Type.Integer(),
  reach: Nullable(Type.Number({ description: 'viewers ÷ audience' })),
  viewsOverTime: Type.Array(Type.Object({
    at: Type.String({ format: 'date-time' }),
    minutesSincePost: Type.Number(),
    views: Type.Integer({ description: 'Cumulative: views before `at`' })
  }), { description: 'Every 5 minutes for the first hour after posting, then hourly, until now (or the 24 hours of the status) and its last view' }),
  timeToView: Type.Object({
    p50: Nullable(Type.Integer({ description: 'ms from posting to a viewer\'s first view, exact' })),
    p90: Nullable(Type.Integer())
  })
})

/** Query of the viewer lists: paging and `format`. */
export const ViewerListQuerySchema = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  format: FormatSchema
})

/** Query of `GET /api/sessions/:sessionId/viewers`. */
export const SessionViewersQuerySchema = Type.Object({ ...RangeProperties, ...ViewerListQuerySchema.properties })

export const SessionViewerSchema = Type.Object({
  statusId: Type.String(),
  viewerNumber: Type.String(),
  viewedAt: Type.String({ format: 'date-time' })
})
