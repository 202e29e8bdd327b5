// The daily analytics rollup and the retention of its rows (docs/analytics.md).
import { Prisma, type PrismaClient } from '../generated/client.ts'
import { addViewersSql, rawBucketsSql, rawViewerBucketsSql, rollupWatermark } from './analytics.ts'

const DAY_MS = 86_400_000

/**
 * Statuses are rolled up once they have been expired (24 h after posting) for a day: the
 * watermark is this many UTC days before the day the rollup runs. Views that arrive later than
 * that (a phone offline for days) are not counted.
 */
export const ROLLUP_DELAY_DAYS = 2

export interface RollupResult {
  /** False when the rollup had already run on this UTC day. */
  ran: boolean
  /** Statuses posted before it are in the rollup tables. */
  watermark: Date
  /** Start of the period this run rolled up (null: nothing new). */
  from: Date | null
}

const utcDay = (at: Date) => new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS)
const isoDay = (at: Date) => at.toISOString().slice(0, 10)

/**
 * Rolls up every status posted from the last watermark to the new one (hour and day figures,
 * hour, day and month viewer rows), once per UTC day for the whole deployment: a Postgres
 * advisory lock serializes concurrent callers and a row per day in `analytics_rollup_runs` makes
 * a second run that day a no-op. One transaction: a failed run leaves nothing half written.
 */
export async function rollupAnalytics (prisma: PrismaClient, now: Date = new Date()): Promise<RollupResult> {
  const today = utcDay(now)
  const watermark = new Date(today.getTime() - ROLLUP_DELAY_DAYS * DAY_MS)
  return await prisma.$transaction(async tx => {
    await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtext('wss:analytics-rollup'))::text`
    const done = await tx.$queryRaw<Array<{ watermark: Date }>>`SELECT watermark FROM analytics_rollup_runs WHERE day = ${isoDay(today)}::date`
    if (done.length > 0) return { ran: false, watermark: done[0]!.watermark, from: null }
    const previous = await rollupWatermark(tx)
    const from = previous ?? await firstPostDay(tx)
    const rolled = from !== null && from < watermark
    if (rolled) await rollupPeriod(tx, from, watermark)
    const kept = previous !== null && previous > watermark ? previous : watermark
    await tx.$executeRaw`INSERT INTO analytics_rollup_runs (day, watermark) VALUES (${isoDay(today)}::date, ${kept})`
    return { ran: true, watermark: kept, from: rolled ? from : null }
  }, { maxWait: 60_000, timeout: 30 * 60_000 })
}

type Tx = Prisma.TransactionClient

async function firstPostDay (tx: Tx): Promise<Date | null> {
  const rows = await tx.$queryRaw<Array<{ d: Date | null }>>`SELECT date_trunc('day', min(sent_at), 'UTC') AS d FROM statuses`
  return rows[0]?.d ?? null
}

/** Rewrites the rollup rows of [from, to) (UTC day boundaries) from the raw rows. */
async function rollupPeriod (tx: Tx, from: Date, to: Date) {
  const posted = Prisma.sql`s.sent_at >= ${from} AND s.sent_at < ${to}`
  await tx.$executeRaw`DELETE FROM analytics_buckets WHERE grain IN ('hour', 'day') AND bucket >= ${from} AND bucket < ${to}`
  await tx.$executeRaw`DELETE FROM analytics_viewer_buckets WHERE grain IN ('hour', 'day') AND bucket >= ${from} AND bucket < ${to}`
  await tx.$executeRaw`${addViewersSql(posted)}`
  for (const grain of ['hour', 'day'] as const) {
    const g = Prisma.raw(`'${grain}'::analytics_grain`)
    await tx.$executeRaw`INSERT INTO analytics_buckets (session_id, grain, bucket, statuses_by_type, statuses, audience, views, unique_viewers, time_to_view)
      SELECT session_id, ${g}, bucket, statuses_by_type, statuses, audience, views, unique_viewers, time_to_view FROM (${rawBucketsSql(grain, posted)}) r`
    await tx.$executeRaw`INSERT INTO analytics_viewer_buckets (session_id, grain, bucket, viewer_id, views, last_viewed_at)
      SELECT session_id, ${g}, bucket, viewer_id, views, last_viewed_at FROM (${rawViewerBucketsSql(grain, posted)}) r`
  }
  // Month rows of every month the period touches, from all of that month's day rows.
  const monthStart = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), 1))
  await tx.$executeRaw`DELETE FROM analytics_viewer_buckets WHERE grain = 'month' AND bucket >= ${monthStart} AND bucket < ${to}`
  await tx.$executeRaw`INSERT INTO analytics_viewer_buckets (session_id, grain, bucket, viewer_id, views, last_viewed_at)
    SELECT session_id, 'month', date_trunc('month', bucket, 'UTC'), viewer_id, sum(views)::int, max(last_viewed_at)
    FROM analytics_viewer_buckets WHERE grain = 'day' AND bucket >= ${monthStart} AND bucket < ${to}
    GROUP BY 1, 3, 4 ORDER BY 1, 3, 4`
}

/**
 * Deletes rollup rows older than `cutoff` (a month row once its whole month is), the viewer
 * numbers no row names any more, and run rows but the latest. Returns the rollup rows deleted.
 */
export async function pruneAnalytics (prisma: PrismaClient, cutoff: Date): Promise<number> {
  return await prisma.$transaction(async tx => {
    // The rollup's lock: it must not give rows an id this deletes.
    await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtext('wss:analytics-rollup'))::text`
    const buckets = await tx.$executeRaw`DELETE FROM analytics_buckets WHERE bucket < ${cutoff}`
    const viewers = await tx.$executeRaw`DELETE FROM analytics_viewer_buckets WHERE bucket < ${cutoff}
      AND (grain <> 'month' OR (bucket AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC' <= ${cutoff})`
    if (viewers > 0) {
      await tx.$executeRaw`DELETE FROM analytics_viewers d
        WHERE NOT EXISTS (SELECT 1 FROM analytics_viewer_buckets b WHERE b.session_id = d.session_id AND b.viewer_id = d.id)`
    }
    await tx.$executeRaw`DELETE FROM analytics_rollup_runs WHERE day < ${isoDay(cutoff)}::date
      AND day < (SELECT max(day) FROM analytics_rollup_runs)`
    return buckets + viewers
  }, { maxWait: 60_000, timeout: 10 * 60_000 })
}

/**
 * The raw retention's bound: statuses created before `cutoff` may go, but only those the rollup
 * already holds (posted before its watermark) or never posted. Returns the statuses deleted.
 */
export async function deleteRawPastRetention (prisma: PrismaClient, cutoff: Date): Promise<number> {
  const watermark = await rollupWatermark(prisma)
  if (watermark === null) {
    return await prisma.$executeRaw`DELETE FROM statuses WHERE created_at < ${cutoff} AND sent_at IS NULL AND state <> 'scheduled'`
  }
  // A scheduled status may be due up to 30 days after it was created: kept until it is sent or given up.
  return await prisma.$executeRaw`DELETE FROM statuses WHERE created_at < ${cutoff} AND (sent_at IS NULL OR sent_at < ${watermark}) AND state <> 'scheduled'`
}
