// Send-status latency: `text` to one recipient, API request → 201, over 1,000 sends one after
// another (send pacing off, rate limit raised), and the Postgres rows and bytes written per status.
//   pnpm --filter @wss/bench send [-- --sends 1000]
import { cpuMs, fmtBytes, fmtMs, machine, options, percentile, pgDelta, pgWrites, printTable, rowsText, sleep, startStack } from './src/harness.ts'
import { ensureFleet, fleetPhone, fleetSessionId } from './src/fleet.ts'

const values = options({ sends: { type: 'string', default: '1000' }, warmup: { type: 'string', default: '20' } })
const sends = Number(values.sends)
const warmup = Number(values.warmup)

console.log(`send: ${sends} text statuses to one recipient, one after another; ${machine()}`)
const stack = await startStack({ name: 'send', env: { RATE_LIMIT_MAX: '1000000', SEND_MIN_INTERVAL_MS: '0', SEND_JITTER_MS: '0' } })
try {
  await stack.addApi()
  const worker = await stack.addWorker()
  await ensureFleet(stack, 1, async () => async () => {})
  const sessionId = fleetSessionId(0)
  const recipient = '15552000000'
  await stack.sim.createAccount(recipient)
  await stack.sim.addContacts(fleetPhone(0), [recipient])

  const post = async (i: number) => {
    const t0 = performance.now()
    const res = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content: `status ${i}`, targetNumbers: recipient })
    const ms = performance.now() - t0
    if (res.status !== 201) throw new Error(`send ${i}: ${res.status} ${JSON.stringify(res.body)}`)
    return ms
  }
  for (let i = 0; i < warmup; i++) await post(-i)
  await sleep(11_000) // let Postgres report the warm-up's row counts
  const pg0 = await pgWrites(stack.prisma)
  const times: number[] = []
  const cpu0 = cpuMs(worker.pid)
  const apiCpu0 = cpuMs(stack.apis[0]!.pid)
  const t0 = Date.now()
  for (let i = 0; i < sends; i++) times.push(await post(i))
  const elapsed = Date.now() - t0
  const workerCpu = (cpuMs(worker.pid) - cpu0) / sends
  const apiCpu = (cpuMs(stack.apis[0]!.pid) - apiCpu0) / sends
  await sleep(11_000)
  const pg = pgDelta(pg0, await pgWrites(stack.prisma), sends)
  const last = await stack.prisma.status.findFirstOrThrow({ where: { sessionId }, orderBy: { createdAt: 'desc' } })
  const received = await stack.sim.status(fleetPhone(0), last.messageId!, 10_000).catch(() => null)

  times.sort((a, b) => a - b)
  const p50 = percentile(times, 50)
  const p99 = percentile(times, 99)
  printTable(`send — text status to one recipient, ${sends} sends one after another (after ${warmup} warm-up sends)`, [
    ['p50 API request → 201', fmtMs(p50), '≤ 30 ms', p50 <= 30],
    ['p99 API request → 201', fmtMs(p99), '≤ 150 ms', p99 <= 150],
    ['p90 / max', `${fmtMs(percentile(times, 90))} / ${fmtMs(times.at(-1)!)}`],
    ['throughput (one client, sequential)', `${(sends / (elapsed / 1000)).toFixed(1)} statuses/s`],
    ['last status decrypted by the recipient', received ? String(received.recipients.some(r => r.phone === recipient && r.decrypted)) : 'not found'],
    ['CPU per status: API node / worker', `${fmtMs(apiCpu)} / ${fmtMs(workerCpu)}`],
    ['Postgres rows written per status', `${pg.totalRows.toFixed(2)} (${rowsText(pg.rows)})`],
    ['Postgres WAL bytes per status', fmtBytes(pg.walBytes)],
    ['table + index growth per status', fmtBytes(pg.tableBytes)]
  ])
} finally {
  await stack.stop()
}
process.exit(0)
