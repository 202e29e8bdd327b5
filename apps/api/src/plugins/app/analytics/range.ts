import { fieldError } from '../../../lib/validation.ts'

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

/** Most points a series may have (hour buckets of ~416 days). */
export const MAX_SERIES_POINTS = 10_000
/** Range when the request names none: the last 7 days. */
export const DEFAULT_RANGE_DAYS = 7

export type Interval = 'hour' | 'day'

/** A validated analytics range: whole UTC hours, `from` < `to`. */
export interface AnalyticsRange { from: Date, to: Date, interval: Interval, tz: string }

export interface RangeQuery { from?: string, to?: string, interval?: Interval, tz?: string }

// ISO 8601 date or date-time; a time without an offset is read as UTC.
const ISO = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/

/** Parses one ISO 8601 instant of the query; a 400 naming the field otherwise. */
export function parseInstant (value: string, field: string): Date {
  const match = ISO.exec(value)
  if (match === null) throw fieldError(`querystring.${field}`, 'must be an ISO 8601 date or date-time')
  const withOffset = value.length > 10 && match[1] === undefined ? `${value}Z` : value
  const date = new Date(withOffset)
  if (Number.isNaN(date.getTime())) throw fieldError(`querystring.${field}`, 'must be an ISO 8601 date or date-time')
  return date
}

/** An IANA time zone name, canonicalized; a 400 naming `tz` when unknown. */
export function parseTimeZone (tz: string): string {
  // Names only: an offset such as "+05:30" may pass Intl but means something else to Postgres.
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/.test(tz)) throw fieldError('querystring.tz', 'must be an IANA time zone name, e.g. Europe/Berlin')
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone
  } catch {
    throw fieldError('querystring.tz', `is not a known time zone: ${tz}`)
  }
}

/** `from` and `to` as given (default: the 7 days before now); a 400 unless from < to. */
export function readInstants (query: { from?: string, to?: string }, now: number = Date.now()): { from: Date, to: Date } {
  const toMs = query.to === undefined ? now : parseInstant(query.to, 'to').getTime()
  const fromMs = query.from === undefined ? toMs - DEFAULT_RANGE_DAYS * DAY_MS : parseInstant(query.from, 'from').getTime()
  if (fromMs >= toMs) throw fieldError('querystring.from', 'must be before to')
  return { from: new Date(fromMs), to: new Date(toMs) }
}

const floorHour = (ms: number) => Math.floor(ms / HOUR_MS) * HOUR_MS
const ceilHour = (ms: number) => Math.ceil(ms / HOUR_MS) * HOUR_MS

/**
 * Reads `from`, `to`, `interval` and `tz`: the range widened to whole UTC hours (the rollup's
 * grain), by default the last 7 days, by day in UTC; at most {@link MAX_SERIES_POINTS} points.
 */
export function readRange (query: RangeQuery, now: number = Date.now()): AnalyticsRange {
  const interval = query.interval ?? 'day'
  const tz = parseTimeZone(query.tz ?? 'UTC')
  const exact = readInstants(query, now)
  const from = floorHour(exact.from.getTime())
  const to = ceilHour(exact.to.getTime())
  // A local day is 23 to 25 hours long; one extra point covers a range that starts mid-day.
  const points = interval === 'hour' ? (to - from) / HOUR_MS : Math.ceil((to - from) / (23 * HOUR_MS)) + 1
  if (points > MAX_SERIES_POINTS) {
    throw fieldError('querystring.to', `gives more than ${MAX_SERIES_POINTS} ${interval} points: shorten the range or use interval=day`)
  }
  return { from: new Date(from), to: new Date(to), interval, tz }
}

/** A range of whole UTC hours cut into the coarsest aligned pieces the viewer rollups hold. */
export interface Pieces { months: Date[], days: Date[], hours: Date[] }

const nextMonth = (ms: number) => { const d = new Date(ms); return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) }
const isMonthStart = (ms: number) => { const d = new Date(ms); return d.getUTCDate() === 1 && ms % DAY_MS === 0 }

/**
 * [from, to) as whole UTC months, then whole days, then hours: reading a year costs ~12 month
 * rows per viewer instead of one row per hour.
 */
export function piecesOf (from: Date, to: Date): Pieces {
  const out: Pieces = { months: [], days: [], hours: [] }
  let at = from.getTime()
  const end = to.getTime()
  while (at < end) {
    if (isMonthStart(at) && nextMonth(at) <= end) {
      out.months.push(new Date(at))
      at = nextMonth(at)
    } else if (at % DAY_MS === 0 && at + DAY_MS <= end) {
      out.days.push(new Date(at))
      at += DAY_MS
    } else {
      out.hours.push(new Date(at))
      at += HOUR_MS
    }
  }
  return out
}
