import { Prisma, rawBucketsSql, viewersOf, type PrismaClient } from '@wss/db'
import type { AnalyticsRange } from './range.ts'

const DAY_MS = 86_400_000

/** A series bucket: [start, end), its local day. */
export interface Bucket { start: Date, end: Date }

const iso = (dates: Date[]) => dates.map(d => d.toISOString())

/**
 * Distinct viewers per local day of the series, keyed by the bucket's start (ms). A day that is a
 * whole UTC day inside the range reads its day rollup row; any other (a time zone whose days do not
 * start at UTC midnight, a day cut by the range) counts its hour rows' viewers, so it stays exact
 * at the cost of reading one row per viewer and hour.
 */
export async function distinctViewersPerBucket (
  prisma: PrismaClient, sessionId: string, range: AnalyticsRange, split: Date, buckets: Bucket[]
): Promise<Map<number, number>> {
  const from = range.from.getTime()
  const to = range.to.getTime()
  const whole = (b: Bucket) => b.start.getTime() % DAY_MS === 0 && b.end.getTime() - b.start.getTime() === DAY_MS &&
    b.start.getTime() >= from && b.end.getTime() <= to
  const fast = buckets.filter(whole)
  const slow = buckets.filter(b => !whole(b))
  const out = new Map<number, number>()
  if (fast.length > 0) {
    const raw = rawBucketsSql('day', Prisma.sql`s.session_id = ${sessionId} AND s.sent_at >= ${split} AND s.sent_at < ${range.to}`)
    const rows = await prisma.$queryRaw<Array<{ bucket: Date, unique_viewers: number }>>`
      SELECT bucket, unique_viewers FROM analytics_buckets WHERE session_id = ${sessionId} AND grain = 'day'
        AND bucket = ANY(${iso(fast.map(b => b.start))}::timestamptz[]) AND bucket < ${split}
      UNION ALL
      SELECT bucket, unique_viewers FROM (${raw}) r`
    for (const r of rows) out.set(r.bucket.getTime(), r.unique_viewers)
  }
  if (slow.length > 0) {
    const clip = (d: Date) => new Date(Math.min(Math.max(d.getTime(), from), to))
    // One index range per bucket (a correlated subquery), not the whole range joined to the buckets.
    // Rollup rows name viewers by id; a raw viewer with an id counts as that id, one without
    // (not rolled up yet, so in no rollup row) by number.
    const rows = await prisma.$queryRaw<Array<{ k: Date, n: number }>>`
      SELECT r.k, (SELECT count(DISTINCT viewer_id) + count(DISTINCT viewer_number) FROM (
          SELECT viewer_id, NULL::text AS viewer_number FROM analytics_viewer_buckets WHERE session_id = ${sessionId} AND grain = 'hour'
            AND bucket >= r.s AND bucket < least(r.e, ${split}::timestamptz)
          UNION ALL
          SELECT d.id, CASE WHEN d.id IS NULL THEN v.viewer_number END FROM statuses st ${viewersOf}
            LEFT JOIN analytics_viewers d ON d.session_id = st.session_id AND d.viewer_number = v.viewer_number
            WHERE st.session_id = ${sessionId} AND st.sent_at >= greatest(r.s, ${split}::timestamptz) AND st.sent_at < r.e
        ) x)::int AS n
      FROM unnest(${iso(slow.map(b => b.start))}::timestamptz[], ${iso(slow.map(b => clip(b.start)))}::timestamptz[],
        ${iso(slow.map(b => clip(b.end)))}::timestamptz[]) AS r(k, s, e)`
    for (const r of rows) out.set(r.k.getTime(), r.n)
  }
  return out
}
