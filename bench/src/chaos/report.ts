// The chaos run's figures: one row per fault kind, then the invariants.
import { fmtMs, percentile } from '../harness.ts'
import type { Check, Overlap } from './checks.ts'
import { FAULT_KINDS, type FaultOutcome } from './faults.ts'

export type Measured = FaultOutcome & { recoveryMs: number, fewest: number, together: string[] }

function table (header: string[], rows: string[][]) {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i]!.length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`
  return [line(header), `|${w.map(n => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)].join('\n')
}

export function faultTable (outcomes: Measured[], sessions: number, boundMs: number): string {
  const rows = FAULT_KINDS.map(kind => {
    const mine = outcomes.filter(o => o.kind === kind)
    const times = mine.map(o => o.recoveryMs).sort((a, b) => a - b)
    const dropped = mine.map(o => sessions - o.fewest)
    return [
      kind,
      String(mine.length),
      String(mine.filter(o => o.together.length).length),
      times.length ? fmtMs(times.at(-1)!) : '-',
      times.length ? fmtMs(percentile(times, 50)) : '-',
      dropped.length ? String(Math.max(...dropped)) : '-',
      mine.length === 0 ? 'not fired' : times.every(t => t <= boundMs) ? 'yes' : 'NO'
    ]
  })
  return table(['fault', 'count', 'of which with another', 'recovery worst', 'recovery median', 'most sessions down', `all back ≤ ${boundMs / 1000} s`], rows)
}

export function checksTable (checks: Check[]): string {
  return table(['invariant', 'result', 'detail'], checks.map(c => [c.name, c.ok ? 'pass' : 'FAIL', c.detail]))
}

export function overlapLines (found: Overlap[]): string[] {
  const paused = found.filter(o => o.inPause)
  const outside = found.filter(o => !o.inPause)
  const worst = paused.reduce((m, o) => Math.max(m, o.ms), 0)
  return [
    `two logged-in sockets of one device outside a SIGSTOP window: ${outside.length}${outside.length ? ` (${outside.slice(0, 3).map(o => `${o.device} ${fmtMs(o.ms)}`).join(', ')})` : ''}`,
    `… within a SIGSTOP window (the paused worker's socket, replaced but not yet closed): ${paused.length}, longest ${fmtMs(worst)}`
  ]
}
