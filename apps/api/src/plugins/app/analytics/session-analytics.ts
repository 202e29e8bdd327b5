import { Prisma, StatusType, TIME_TO_VIEW_BOUNDS_MS, histogramQuantile, rawBucketsSql, rollupWatermark, viewersOf, type BucketFigures, type PrismaClient } from '@wss/db'
import { piecesOf, type AnalyticsRange } from './range.ts'
import { distinctViewersPerBucket, type Bucket } from './unique-viewers.ts'

/** One series point, or the totals: the statuses posted in the period and what they reached. */
export interface Figures {
  statuses: number
  statusesByType: Record<string, number>
  audience: number
  views: number
  uniqueViewers: number
  /** views ÷ audience; null without audience */
  reach: number | null
  medianTimeToFirstViewMs: number | null
}
export interface SeriesPoint extends Figures { start: string }
export interface TopViewer { viewerNumber: string, statusesViewed: number, lastViewedAt: string }
export interface SessionAnalytics {
  range: { from: string, to: string, interval: string, tz: string }
  totals: Figures
  series: SeriesPoint[]
  topViewers: TopViewer[]
}

interface Acc { statuses: number, byType: Record<string, number>, audience: number, views: number, unique: number, hist: number[] }

const emptyAcc = (): Acc => ({ statuses: 0, byType: {}, audience: 0, views: 0, unique: 0, hist: new Array<number>(TIME_TO_VIEW_BOUNDS_MS.length + 1).fill(0) })

function add (acc: Acc, row: BucketFigures) {
  acc.statuses += row.statuses
  acc.audience += row.audience
  acc.views += row.views
  for (const [type, n] of Object.entries(row.statuses_by_type)) acc.byType[type] = (acc.byType[type] ?? 0) + n
  row.time_to_view.forEach((n, i) => { acc.hist[i] = (acc.hist[i] ?? 0) + n })
}

/** The reach of a period: the share of its audience that viewed (views ÷ audience), 4 decimals. */
export const reachOf = (views: number, audience: number): number | null =>
  audience === 0 ? null : Math.round((views / audience) * 10_000) / 10_000

function figures (acc: Acc): Figures {
  const statusesByType: Record<string, number> = Object.fromEntries(Object.values(StatusType).map(t => [t, 0]))
  for (const [type, n] of Object.entries(acc.byType)) statusesByType[type] = n
  return {
    statuses: acc.statuses,
    statusesByType,
    audience: acc.audience,
    views: acc.views,
    uniqueViewers: acc.unique,
    reach: reachOf(acc.views, acc.audience),
    medianTimeToFirstViewMs: histogramQuantile(acc.hist, 0.5)
  }
}

/** Where rollups end and raw rows take over, within the range. */
export async function splitOf (prisma: PrismaClient, range: AnalyticsRange): Promise<Date> {
  const watermark = await rollupWatermark(prisma)
  const at = Math.min(Math.max(watermark?.getTime() ?? 0, range.from.getTime()), range.to.getTime())
  return new Date(at)
}

/** The local start of the series bucket an hour (UTC) falls in. */
export function seriesBucket (range: AnalyticsRange, column: Prisma.Sql): Prisma.Sql {
  return range.interval === 'hour' ? column : Prisma.sql`(date_trunc('day', ${column} AT TIME ZONE ${range.tz}) AT TIME ZONE ${range.tz})`
}

// Sums of hour rows per series bucket, in SQL: a year is ~9,000 hour rows but only 366 points.
const TYPES = Object.values(StatusType)
const sumByType = Prisma.raw('jsonb_build_object(' + TYPES.map(t => `'${t}', sum(coalesce((statuses_by_type->>'${t}')::int, 0))::int`).join(', ') + ')')
const sumHistogram = Prisma.raw('ARRAY[' + Array.from({ length: TIME_TO_VIEW_BOUNDS_MS.length + 1 }, (_, i) => `sum(time_to_view[${i + 1}])::int`).join(', ') + ']')

const DAY_MS = 86_400_000

/**
 * The rollup rows of [from, split): hour rows, or for days in UTC the day rows of the whole days
 * (ten times fewer rows over a year) and hour rows at the edges.
 */
function rolledUp (range: AnalyticsRange, split: Date): Prisma.Sql {
  const hours = (a: number, b: number) => Prisma.sql`(grain = 'hour' AND bucket >= ${new Date(a)} AND bucket < ${new Date(b)})`
  const from = range.from.getTime()
  const end = split.getTime()
  if (range.interval === 'hour' || range.tz !== 'UTC') return hours(from, end)
  const lo = Math.min(Math.ceil(from / DAY_MS) * DAY_MS, end)
  const hi = Math.max(Math.floor(end / DAY_MS) * DAY_MS, lo)
  return Prisma.sql`(${hours(from, lo)} OR (grain = 'day' AND bucket >= ${new Date(lo)} AND bucket < ${new Date(hi)}) OR ${hours(hi, end)})`
}

/**
 * Figures per series bucket (`bucket`: the point's start): rollup rows before `split`, the same
 * computed from raw rows after it.
 */
async function seriesRows (prisma: PrismaClient, sessionId: string, range: AnalyticsRange, split: Date): Promise<BucketFigures[]> {
  const raw = rawBucketsSql('hour', Prisma.sql`s.session_id = ${sessionId} AND s.sent_at >= ${split} AND s.sent_at < ${range.to}`)
  return await prisma.$queryRaw<BucketFigures[]>`SELECT start AS bucket, ${sumByType} AS statuses_by_type, sum(statuses)::int AS statuses,
      sum(audience)::int AS audience, sum(views)::int AS views, max(unique_viewers)::int AS unique_viewers, ${sumHistogram} AS time_to_view
    FROM (SELECT ${seriesBucket(range, Prisma.sql`bucket`)} AS start, statuses_by_type, statuses, audience, views, unique_viewers, time_to_view FROM (
      SELECT bucket, statuses_by_type, statuses, audience, views, unique_viewers, time_to_view FROM analytics_buckets
        WHERE session_id = ${sessionId} AND ${rolledUp(range, split)}
      UNION ALL
      SELECT bucket, statuses_by_type, statuses, audience, views, unique_viewers, time_to_view FROM (${raw}) r
    ) x) y GROUP BY start`
}

/** Every bucket of the series, empty ones included (local days keep their 23 or 25 hours). */
async function seriesBuckets (prisma: PrismaClient, range: AnalyticsRange): Promise<Bucket[]> {
  const out: Bucket[] = []
  if (range.interval === 'hour') {
    for (let at = range.from.getTime(); at < range.to.getTime(); at += 3_600_000) out.push({ start: new Date(at), end: new Date(at + 3_600_000) })
    return out
  }
  const last = new Date(range.to.getTime() - 1)
  // One day past the last bucket: its start is the last bucket's end.
  const rows = await prisma.$queryRaw<Array<{ start: Date }>>`SELECT (d AT TIME ZONE ${range.tz}) AS start FROM generate_series(
      date_trunc('day', ${range.from}::timestamptz AT TIME ZONE ${range.tz}),
      date_trunc('day', ${last}::timestamptz AT TIME ZONE ${range.tz}) + interval '1 day', interval '1 day') d ORDER BY d`
  for (let i = 0; i + 1 < rows.length; i++) out.push({ start: rows[i]!.start, end: rows[i + 1]!.start })
  return out
}

/**
 * Distinct viewers over the whole range, and the most engaged ones: the rollup rows of the range's
 * pieces summed per viewer id (integers: the bulk of the work), their numbers looked up once per
 * viewer, merged with the raw rows after `split` by number.
 */
async function viewersOfRange (prisma: PrismaClient, sessionId: string, range: AnalyticsRange, split: Date, top: number) {
  const { months, days, hours } = piecesOf(range.from, split)
  const iso = (dates: Date[]) => dates.map(d => d.toISOString())
  const rows = await prisma.$queryRaw<Array<{ viewer_number: string, views: number, last: Date, unique_viewers: number }>>`WITH src AS (
      SELECT viewer_id, views, last_viewed_at FROM analytics_viewer_buckets
        WHERE session_id = ${sessionId} AND grain = 'month' AND bucket = ANY(${iso(months)}::timestamptz[])
      UNION ALL
      SELECT viewer_id, views, last_viewed_at FROM analytics_viewer_buckets
        WHERE session_id = ${sessionId} AND grain = 'day' AND bucket = ANY(${iso(days)}::timestamptz[])
      UNION ALL
      SELECT viewer_id, views, last_viewed_at FROM analytics_viewer_buckets
        WHERE session_id = ${sessionId} AND grain = 'hour' AND bucket = ANY(${iso(hours)}::timestamptz[])
    ), rolled AS (SELECT d.viewer_number, r.views, r.last FROM (
        SELECT viewer_id, sum(views)::int AS views, max(last_viewed_at) AS last FROM src GROUP BY 1
      ) r JOIN analytics_viewers d ON d.id = r.viewer_id
    ), raw AS (SELECT v.viewer_number, count(*)::int AS views, max(v.viewed_at) AS last FROM statuses st ${viewersOf}
        WHERE st.session_id = ${sessionId} AND st.sent_at >= ${split} AND st.sent_at < ${range.to} GROUP BY 1
    ), per AS (SELECT viewer_number, coalesce(r.views, 0) + coalesce(w.views, 0) AS views, greatest(r.last, w.last) AS last
        FROM rolled r FULL JOIN raw w USING (viewer_number))
    SELECT viewer_number, views, last, (count(*) OVER ())::int AS unique_viewers FROM per
    ORDER BY views DESC, last DESC, viewer_number LIMIT ${top}`
  return {
    uniqueViewers: rows[0]?.unique_viewers ?? 0,
    topViewers: rows.map(r => ({ viewerNumber: r.viewer_number, statusesViewed: r.views, lastViewedAt: r.last.toISOString() }))
  }
}

/**
 * A session's analytics over a range: totals, a series per hour or local day, top viewers.
 * Every figure counts the statuses posted in the period (by their post hour, UTC), with all
 * their views whenever they came.
 */
export async function sessionAnalytics (prisma: PrismaClient, sessionId: string, range: AnalyticsRange, top: number): Promise<SessionAnalytics> {
  const split = await splitOf(prisma, range)
  const [rows, buckets, viewers] = await Promise.all([
    seriesRows(prisma, sessionId, range, split),
    seriesBuckets(prisma, range),
    viewersOfRange(prisma, sessionId, range, split, top)
  ])
  const bySeries = new Map(buckets.map(b => [b.start.getTime(), emptyAcc()]))
  const totals = emptyAcc()
  for (const row of rows) {
    add(totals, row)
    const acc = bySeries.get(row.bucket.getTime())
    if (acc !== undefined) {
      add(acc, row)
      if (range.interval === 'hour') acc.unique = row.unique_viewers
    }
  }
  if (range.interval === 'day') {
    const unique = await distinctViewersPerBucket(prisma, sessionId, range, split, buckets)
    for (const [start, n] of unique) { const acc = bySeries.get(start); if (acc !== undefined) acc.unique = n }
  }
  totals.unique = viewers.uniqueViewers
  return {
    range: { from: range.from.toISOString(), to: range.to.toISOString(), interval: range.interval, tz: range.tz },
    totals: figures(totals),
    series: buckets.map(b => ({ start: b.start.toISOString(), ...figures(bySeries.get(b.start.getTime())!) })),
    topViewers: viewers.topViewers
  }
}
