// Viewer analytics: the SQL both apps share. The worker's daily rollup writes hour and day rows
// from raw statuses and viewers with these queries; the API reads the same shapes from raw rows
// for the period not rolled up yet, so both paths count alike (docs/analytics.md).
import { Prisma, type PrismaClient } from '../generated/client.ts'

const MINUTE = 60_000
const HOUR = 60 * MINUTE

/**
 * Upper bounds (ms) of the time-to-view histogram's buckets; one more, open bucket holds
 * everything from the last bound on. Changing them invalidates stored histograms.
 */
export const TIME_TO_VIEW_BOUNDS_MS: readonly number[] = Object.freeze([
  MINUTE / 2, MINUTE, 2 * MINUTE, 3 * MINUTE, 5 * MINUTE, 7.5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 20 * MINUTE,
  30 * MINUTE, 45 * MINUTE, HOUR, 1.5 * HOUR, 2 * HOUR, 3 * HOUR, 4 * HOUR, 6 * HOUR, 8 * HOUR, 12 * HOUR,
  16 * HOUR, 20 * HOUR, 24 * HOUR
])

/** Grains of the rollup rows, each bucket starting at a UTC boundary. */
export type AnalyticsGrainName = 'hour' | 'day' | 'month'

/**
 * A bucket's figures, as stored in `analytics_buckets`, as computed from raw rows, and as summed
 * per series point by the API.
 */
export interface BucketFigures {
  bucket: Date
  statuses_by_type: Record<string, number>
  statuses: number
  audience: number
  views: number
  unique_viewers: number
  time_to_view: number[]
}

const grainSql = (grain: 'hour' | 'day') => Prisma.raw(`'${grain}'`)

// Each view's histogram bucket: width_bucket answers how many bounds are <= the delay.
const ttvBucket = Prisma.raw(
  `width_bucket(extract(epoch FROM v.viewed_at - st.sent_at) * 1000, ARRAY[${TIME_TO_VIEW_BOUNDS_MS.join(',')}]::float8[])`
)
const histogram = Prisma.raw(
  'ARRAY[' + Array.from({ length: TIME_TO_VIEW_BOUNDS_MS.length + 1 }, (_, i) => `count(*) FILTER (WHERE ttv = ${i})`).join(', ') + ']::int[]'
)
const emptyHistogram = Prisma.raw(`array_fill(0, ARRAY[${TIME_TO_VIEW_BOUNDS_MS.length + 1}])::int[]`)

/**
 * The viewer rows of each status `st`, from the (status, viewed_at, viewer) index alone (an
 * index-only scan: a status's viewers lie on as many heap pages as it has views): `OFFSET 0` keeps the
 * planner from flattening the lateral join into a hash join over the whole viewers table, which
 * it otherwise picks for a few dozen statuses (a 1,000,000-row scan for a 2-day period).
 */
export const viewersOf = Prisma.raw(
  'CROSS JOIN LATERAL (SELECT v.viewer_number, v.viewed_at FROM status_viewers v WHERE v.status_id = st.id OFFSET 0) v'
)

/**
 * The statuses a figure counts: posted (`sent_at` set, so failed and pending ones are left out),
 * with their audience without the own number (which is always in it and never a viewer).
 * `where` filters `statuses s`.
 */
function postedStatuses (grain: 'hour' | 'day', where: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`SELECT s.id, s.session_id, s.type::text AS type, s.sent_at,
      date_trunc(${grainSql(grain)}, s.sent_at, 'UTC') AS bucket,
      greatest(cardinality(s.audience) - 1, 0) AS audience
    FROM statuses s WHERE s.sent_at IS NOT NULL AND ${where}`
}

/**
 * Per (session, bucket) figures of the statuses matching `where`, bucketed by their post time:
 * the columns of `analytics_buckets`. The views are read once (materialized) and counted twice:
 * distinct viewers by hashing (bucket, viewer), not a sort per bucket as `count(DISTINCT)` does.
 */
export function rawBucketsSql (grain: 'hour' | 'day', where: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`WITH st AS (${postedStatuses(grain, where)}),
    by_type AS (SELECT session_id, bucket, type, count(*)::int AS n, sum(audience)::int AS audience FROM st GROUP BY 1, 2, 3),
    posts AS (SELECT session_id, bucket, jsonb_object_agg(type, n) AS statuses_by_type, sum(n)::int AS statuses, sum(audience)::int AS audience
      FROM by_type GROUP BY 1, 2),
    vw AS MATERIALIZED (SELECT st.session_id, st.bucket, v.viewer_number, ${ttvBucket} AS ttv FROM st ${viewersOf}),
    seen AS (SELECT session_id, bucket, count(*)::int AS views, ${histogram} AS time_to_view FROM vw GROUP BY 1, 2),
    uniq AS (SELECT session_id, bucket, count(*)::int AS unique_viewers FROM (SELECT DISTINCT session_id, bucket, viewer_number FROM vw) d GROUP BY 1, 2)
    SELECT p.session_id, p.bucket, p.statuses_by_type, p.statuses, p.audience, coalesce(s.views, 0) AS views,
      coalesce(u.unique_viewers, 0) AS unique_viewers, coalesce(s.time_to_view, ${emptyHistogram}) AS time_to_view
    FROM posts p LEFT JOIN seen s USING (session_id, bucket) LEFT JOIN uniq u USING (session_id, bucket)`
}

/**
 * Per (session, bucket, viewer): how many of the bucket's statuses (matching `where`) the viewer
 * saw and when last: the columns of `analytics_viewer_buckets`, the viewer by its id in
 * `analytics_viewers` (every viewer must have one: {@link addViewersSql}), in key order.
 */
export function rawViewerBucketsSql (grain: 'hour' | 'day', where: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`SELECT st.session_id, st.bucket, d.id AS viewer_id, count(*)::int AS views, max(v.viewed_at) AS last_viewed_at
    FROM (${postedStatuses(grain, where)}) st ${viewersOf}
    JOIN analytics_viewers d ON d.session_id = st.session_id AND d.viewer_number = v.viewer_number
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`
}

/**
 * Gives an id in `analytics_viewers` to every viewer of the statuses matching `where` that has
 * none yet. Only new numbers are inserted (an `ON CONFLICT` would spend an id per row); the
 * rollup's lock keeps two callers from racing.
 */
export function addViewersSql (where: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`INSERT INTO analytics_viewers (session_id, viewer_number)
    SELECT DISTINCT st.session_id, v.viewer_number FROM (${postedStatuses('day', where)}) st ${viewersOf}
    WHERE NOT EXISTS (SELECT 1 FROM analytics_viewers d WHERE d.session_id = st.session_id AND d.viewer_number = v.viewer_number)
    ORDER BY 1, 2`
}

/**
 * The median (or any quantile) of a time-to-view histogram, in ms: linear within the bucket that
 * holds it; the open last bucket answers its lower bound. Null without views.
 */
export function histogramQuantile (histogram: readonly number[], q: number): number | null {
  const total = histogram.reduce((a, b) => a + b, 0)
  if (total === 0) return null
  const rank = q * total
  let before = 0
  for (let i = 0; i < histogram.length; i++) {
    const n = histogram[i]!
    if (n > 0 && before + n >= rank) {
      const lower = i === 0 ? 0 : TIME_TO_VIEW_BOUNDS_MS[i - 1]!
      const upper = TIME_TO_VIEW_BOUNDS_MS[i]
      if (upper === undefined) return lower
      return Math.round(lower + ((rank - before) / n) * (upper - lower))
    }
    before += n
  }
  return TIME_TO_VIEW_BOUNDS_MS[TIME_TO_VIEW_BOUNDS_MS.length - 1]!
}

/** The watermark of the rollup: statuses posted before it are in the rollup tables (null: none yet). */
export async function rollupWatermark (prisma: Pick<PrismaClient, '$queryRaw'>): Promise<Date | null> {
  const rows = await prisma.$queryRaw<Array<{ w: Date | null }>>`SELECT max(watermark) AS w FROM analytics_rollup_runs`
  return rows[0]?.w ?? null
}
