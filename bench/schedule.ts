// Scheduled statuses: N statuses scheduled across one minute over S sessions (each session's spaced
// evenly, so send pacing never holds one back: nothing else is queued for the session), two
// workers, default pacing. Lateness = sentAt − scheduledAt, as stored (it includes the firing, the
// routing to the owner, the send and WhatsApp's ack).
//   pnpm --filter @wss/bench schedule [-- --sessions 100 --statuses 1000]
import { readdirSync, readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { fmtMs, machine, options, percentile, printTable, sleep, startStack, until } from './src/harness.ts'
import { ensureFleet, fleetSessionId } from './src/fleet.ts'
import { tempWorkers } from './src/workers.ts'

const values = options({
  sessions: { type: 'string', default: '100' },
  statuses: { type: 'string', default: '1000' },
  window: { type: 'string', default: '60000' },
  lead: { type: 'string', default: '45000' }
})
const n = Number(values.sessions)
const total = Number(values.statuses)
const windowMs = Number(values.window)
const leadMs = Number(values.lead)

console.log(`schedule: ${total} statuses scheduled across ${windowMs / 1000} s over ${n} sessions; ${machine()}`)
const stack = await startStack({ name: 'schedule', keep: true, env: { RATE_LIMIT_MAX: '1000000' } })
try {
  await stack.addApi()
  await ensureFleet(stack, n, tempWorkers(stack, 2))
  // At info, the workers log each firing's lateness (job → send queued to the owner) and lost leases.
  await stack.addWorker({ LOG_LEVEL: 'info' })
  await stack.addWorker({ LOG_LEVEL: 'info' })
  if (!await until(async () => (await stack.connectedCount()) >= n, 180_000, 500)) throw new Error('the fleet did not connect')

  // Status i: session i mod n, slot ⌊i / n⌋ of that session; sessions offset within a slot, so the
  // whole window is covered evenly.
  const perSession = Math.ceil(total / n)
  const slotMs = windowMs / perSession
  const start = Date.now() + leadMs
  const plan = Array.from({ length: total }, (_, i) => {
    const session = i % n
    const slot = Math.floor(i / n)
    return { sessionId: fleetSessionId(session), at: new Date(start + slot * slotMs + (session / n) * slotMs) }
  })
  const postTimes: number[] = []
  let next = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < plan.length) {
      const { sessionId, at } = plan[next++]!
      const t0 = performance.now()
      const res = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content: `scheduled for ${at.toISOString()}`, scheduledAt: at.toISOString() })
      postTimes.push(performance.now() - t0)
      if (res.status !== 202) throw new Error(`schedule: ${res.status} ${JSON.stringify(res.body)}`)
    }
  }))
  const postedBy = Date.now()
  if (postedBy >= start) console.log(`warning: scheduling took longer than the lead (${fmtMs(postedBy - start + leadMs)})`)
  console.log(`${total} scheduled in ${fmtMs(postedBy - start + leadMs)}; waiting for the window`)

  const load: number[] = []
  const sampler = setInterval(() => load.push(loadavg()[0]!), 5000)
  const done = await until(async () => (await stack.prisma.status.count({ where: { state: { in: ['scheduled', 'pending'] } } })) === 0, leadMs + windowMs + 180_000, 1000)
  clearInterval(sampler)
  await sleep(500)
  const rows = await stack.prisma.status.findMany({ where: { scheduledAt: { gte: new Date(start - 1) } }, select: { state: true, scheduledAt: true, sentAt: true, error: true } })
  const sent = rows.filter(r => r.state === 'sent' && r.sentAt !== null && r.scheduledAt !== null)
  const late = sent.map(r => r.sentAt!.getTime() - r.scheduledAt!.getTime()).sort((a, b) => a - b)
  const early = late.filter(ms => ms < 0).length
  const within2s = late.filter(ms => ms <= 2000).length
  postTimes.sort((a, b) => a - b)
  // What the workers logged: when each due status's send was queued (the scheduling part of the
  // lateness; the rest is the send itself), and sessions lost with a lease (a loaded machine).
  const lines = readdirSync(stack.runDir).filter(f => f.startsWith('worker-')).flatMap(f => readFileSync(join(stack.runDir, f), 'utf8').split('\n'))
  const fired = lines.filter(l => l.includes('scheduled status due: send queued')).map(l => (JSON.parse(l) as { lateMs: number }).lateMs).sort((a, b) => a - b)
  const lost = lines.filter(l => l.includes('"sessions lost"')).reduce((sum, l) => sum + ((JSON.parse(l) as { count?: number }).count ?? 0), 0)
  const p50 = percentile(late, 50)
  const p99 = percentile(late, 99)
  printTable(`schedule — ${total} statuses across ${windowMs / 1000} s over ${n} sessions, 2 workers, default send pacing (each session's statuses ${fmtMs(slotMs)} apart)`, [
    ['sent / failed / left', `${sent.length} / ${rows.filter(r => r.state === 'failed').length} / ${done ? 0 : rows.length - sent.length}`],
    ['lateness p50 (sentAt − scheduledAt)', fmtMs(p50), '≤ 2 s', p50 <= 2000],
    ['lateness p99', fmtMs(p99), '≤ 2 s', p99 <= 2000],
    ['lateness p90 / max', `${fmtMs(percentile(late, 90))} / ${fmtMs(late.at(-1) ?? NaN)}`],
    ['sent within 2 s / sent before their time', `${within2s} / ${early}`],
    ['due → send queued to the owner, p50 / p99 / max', `${fmtMs(percentile(fired, 50))} / ${fmtMs(percentile(fired, 99))} / ${fmtMs(fired.at(-1) ?? NaN)} (${fired.length} firings)`],
    ['sessions lost with a lease during the run', String(lost)],
    ['POST send-status (scheduling) p50 / p99', `${fmtMs(percentile(postTimes, 50))} / ${fmtMs(percentile(postTimes, 99))}`],
    ['load average (1 min) during the window: min / max', `${Math.min(...load).toFixed(1)} / ${Math.max(...load).toFixed(1)}`]
  ])
  const errors = [...new Set(rows.filter(r => r.state === 'failed').map(r => r.error))]
  if (errors.length > 0) console.log('failures:', errors.slice(0, 5))
} finally {
  await stack.stop()
}
process.exit(0)
