import { StatusType } from '@wss/db'
import type { Cell } from '../../../lib/csv.ts'
import type { SeriesPoint } from '../../../plugins/app/analytics/session-analytics.ts'

/** The analytics series as CSV rows: one per point, a column per status type. */
export function seriesCsv (series: SeriesPoint[]): { header: string[], rows: Cell[][] } {
  const types = Object.values(StatusType)
  const header = ['start', 'statuses', ...types.map(t => `statuses_${t}`), 'audience', 'views', 'uniqueViewers', 'reach', 'medianTimeToFirstViewMs']
  const rows = series.map(p => [
    p.start, p.statuses, ...types.map(t => p.statusesByType[t] ?? 0), p.audience, p.views, p.uniqueViewers, p.reach, p.medianTimeToFirstViewMs
  ])
  return { header, rows }
}
