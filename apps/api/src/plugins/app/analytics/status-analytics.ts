import type { PrismaClient } from '@wss/db'
import type { SessionsService } from '../sessions.ts'
import { findInSession } from '../statuses/status-rows.ts'
import { reachOf } from './session-analytics.ts'

const MINUTE_MS = 60_000
const HOUR_MS = 60 * MINUTE_MS
const DAY_MS = 24 * HOUR_MS

export interface ViewsPoint { at: string, minutesSincePost: number, views: number }
export interface StatusAnalytics {
  statusId: string
  sentAt: string | null
  audience: number
  viewers: number
  reach: number | null
  viewsOverTime: ViewsPoint[]
  timeToView: { p50: number | null, p90: number | null }
}

/** Exact quantile of sorted values, linear between the closest ranks (as percentile_cont). */
export function quantile (sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return Math.round(sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo))
}

/** Offsets (ms after posting) of the points: every 5 minutes for the first hour, then hourly, until `span` is covered. */
export function pointOffsets (span: number): number[] {
  const out: number[] = []
  for (let at = 5 * MINUTE_MS; ; at += at < HOUR_MS ? 5 * MINUTE_MS : HOUR_MS) {
    out.push(at)
    if (at >= span) return out
  }
}

/**
 * One status's reach: its audience (recipients but the own number), viewers, views over time
 * since posting (cumulative) and exact time-to-view percentiles (from its raw viewer rows, so
 * only while RETENTION_DAYS keeps them).
 */
export async function statusAnalytics (
  deps: { prisma: PrismaClient, sessions: SessionsService }, sessionId: string, statusId: string, now: number = Date.now()
): Promise<StatusAnalytics> {
  const status = await findInSession(deps, sessionId, statusId)
  const audience = Math.max(status.audience.length - 1, 0)
  const base = { statusId: status.id, sentAt: status.sentAt?.toISOString() ?? null, audience }
  if (status.sentAt === null) return { ...base, viewers: 0, reach: null, viewsOverTime: [], timeToView: { p50: null, p90: null } }
  const sentAt = status.sentAt.getTime()
  const rows = await deps.prisma.$queryRaw<Array<{ ms: number }>>`
    SELECT (extract(epoch FROM viewed_at - ${status.sentAt}::timestamptz) * 1000)::float8 AS ms FROM status_viewers WHERE status_id = ${status.id}::uuid ORDER BY 1`
  const delays = rows.map(r => r.ms)
  // Until now (or the status's 24 hours on WhatsApp), and at least until its last view.
  const span = Math.max(Math.min(now, (status.expiresAt?.getTime() ?? sentAt + DAY_MS)) - sentAt, delays[delays.length - 1] ?? 0, 1)
  let seen = 0
  const viewsOverTime = pointOffsets(span).map(offset => {
    while (seen < delays.length && delays[seen]! < offset) seen++
    return { at: new Date(sentAt + offset).toISOString(), minutesSincePost: offset / MINUTE_MS, views: seen }
  })
  return {
    ...base,
    viewers: delays.length,
    reach: reachOf(delays.length, audience),
    viewsOverTime,
    timeToView: { p50: quantile(delays, 0.5), p90: quantile(delays, 0.9) }
  }
}
