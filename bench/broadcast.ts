// One status to 5,000 recipients (time to done, progress on the events stream), then all 5,000
// view it in one burst (time until the viewers route shows them all), and the Postgres rows and
// bytes written per view. Then a webhook endpoint (a local receiver) is added and the audience views
// the second status in one burst: the same figure with webhooks on, and the time until the receiver
// has every viewer.
//   pnpm --filter @wss/bench broadcast [-- --recipients 5000]
import { createServer } from 'node:http'
import { Webhook } from 'standardwebhooks'
import { cpuMs, fmtBytes, fmtMs, machine, options, pgDelta, pgWrites, printTable, rowsText, sleep, startStack, until } from './src/harness.ts'
import { ensureFleet, fleetPhone, fleetSessionId } from './src/fleet.ts'

const values = options({ recipients: { type: 'string', default: '5000' } })
const n = Number(values.recipients)

console.log(`broadcast: one status to ${n} recipients, then ${n} views in one burst; ${machine()}`)
// The recipients' phones decrypt on demand (when the views are asked for), not while the sender is measured.
const stack = await startStack({ name: 'broadcast', simArgs: ['--lazy-decrypt'], env: { RATE_LIMIT_MAX: '1000000', WEBHOOK_ALLOW_PRIVATE: 'true' } })

/** A webhook receiver on 127.0.0.1 that verifies each delivery and collects the viewers of one status. */
async function startReceiver () {
  const viewers = new Set<string>()
  const state = { secret: '', statusId: '', deliveries: 0, lastAt: 0 }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const payload = new Webhook(state.secret).verify(Buffer.concat(chunks).toString('utf8'), req.headers as Record<string, string>) as { type: string, data: any }
      state.deliveries++
      if (payload.type === 'status-viewers-update' && payload.data.statusId === state.statusId) {
        for (const v of payload.data.viewers) viewers.add(v.viewerNumber)
        state.lastAt = performance.now()
      }
      res.writeHead(204).end()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks`, viewers, state, close: () => server.close() }
}
try {
  await stack.addApi()
  const worker = await stack.addWorker()
  await ensureFleet(stack, 1, async () => async () => {})
  const sessionId = fleetSessionId(0)
  const sender = fleetPhone(0)
  const phones = Array.from({ length: n }, (_, i) => `1555300${String(i).padStart(4, '0')}`)
  let next = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < phones.length) await stack.sim.createAccount(phones[next++]!)
  }))
  for (let i = 0; i < phones.length; i += 1000) await stack.sim.addContacts(sender, phones.slice(i, i + 1000))

  const progress: Array<{ sent: number, total: number, at: number }> = []
  let sentAt = 0
  const closeEvents = await stack.events((event, data, at) => {
    if (data?.sessionId !== sessionId) return
    if (event === 'status-progress') progress.push({ sent: data.sent, total: data.total, at })
    if (event === 'status-sent') sentAt = at
  })

  const send = async (label: string) => {
    progress.length = 0
    sentAt = 0
    const cpu0 = cpuMs(worker.pid)
    const simCpu0 = cpuMs(stack.simPid)
    const t0 = performance.now()
    const res = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content: `to ${n} (${label})`, targetNumbers: phones })
    if (res.status !== 201 && res.status !== 202) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`)
    const answered = performance.now() - t0
    await until(() => sentAt > 0, 120_000, 20)
    return { id: res.body.data.id as string, status: res.status, answered, done: sentAt - t0, cpu: cpuMs(worker.pid) - cpu0, simCpu: cpuMs(stack.simPid) - simCpu0, progress: progress.map(p => ({ ...p, at: p.at - t0 })) }
  }
  const cold = await send('cold')
  // A second status to the same audience: the recipients' devices and sessions are known now.
  const warm = await send('warm')
  closeEvents()

  const messageId = (await stack.prisma.status.findUniqueOrThrow({ where: { id: cold.id } })).messageId!
  const received = await stack.sim.status(sender, messageId, 120_000)
  const decrypted = received.recipients.filter(r => r.decrypted && r.phone !== sender).length

  // One burst: every recipient views `statusId` at once; until the API counts them all.
  const burst = async (statusId: string, statusMessageId: string) => {
    const cpu0 = cpuMs(worker.pid)
    const t0 = performance.now()
    const views = await stack.sim.viewStatus(sender, statusMessageId, { by: 'lid' })
    const lastReceipt = performance.now()
    let seen = 0
    await until(async () => {
      seen = (await stack.api('GET', `/api/sessions/${sessionId}/statuses/${statusId}`)).body.data.viewCount
      return seen >= views.viewers
    }, 60_000, 25) // a client polling every 25 ms (the figure includes up to 25 ms of polling delay)
    return { views, seen, lastReceipt, sending: lastReceipt - t0, visible: performance.now() - lastReceipt, cpu: cpuMs(worker.pid) - cpu0 }
  }

  await sleep(11_000) // let Postgres report earlier row counts
  const pg0 = await pgWrites(stack.prisma)
  const off = await burst(cold.id, messageId)
  const { views, visible, seen } = off
  // Every viewer, through the viewers route, page by page.
  const viewers = new Set<string>()
  let cursor: string | null | undefined
  do {
    const page = await stack.api('GET', `/api/sessions/${sessionId}/statuses/${cold.id}/viewers?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    for (const v of page.body.data) viewers.add(v.viewerNumber)
    cursor = page.body.nextCursor
  } while (cursor)
  await sleep(11_000)
  const pg = pgDelta(pg0, await pgWrites(stack.prisma), views.viewers)

  // The same burst with a webhook endpoint taking every event, on the second status.
  const receiver = await startReceiver()
  const hook = await stack.api('POST', '/api/webhooks', { url: receiver.url })
  if (hook.status !== 201) throw new Error(`webhook: ${hook.status} ${JSON.stringify(hook.body)}`)
  Object.assign(receiver.state, { secret: hook.body.data.secret, statusId: warm.id })
  const warmMessageId = (await stack.prisma.status.findUniqueOrThrow({ where: { id: warm.id } })).messageId!
  await stack.sim.status(sender, warmMessageId, 120_000)
  await sleep(6_000) // every process's endpoint list has expired by now (the API announced the change anyway)
  const on = await burst(warm.id, warmMessageId)
  await until(() => receiver.viewers.size >= on.views.viewers, 120_000, 10)
  const allReceived = receiver.state.lastAt - on.lastReceipt
  receiver.close()

  printTable(`broadcast — one text status to ${n} recipients, then ${n} views in one burst`, [
    ['cold: API request → status sent (all stanzas acknowledged)', fmtMs(cold.done), '≤ 15 s', cold.done <= 15_000],
    ['cold: API answer', `${cold.status} after ${fmtMs(cold.answered)}`],
    ['cold: progress events on the stream', `${cold.progress.length}: ${cold.progress.map(p => `${p.sent} at ${(p.at / 1000).toFixed(1)} s`).join(', ')}`],
    ['cold: CPU of the worker / the simulator', `${fmtMs(cold.cpu)} / ${fmtMs(cold.simCpu)}`],
    ['warm (same audience again): request → sent', fmtMs(warm.done)],
    ['warm: CPU of the worker / the simulator', `${fmtMs(warm.cpu)} / ${fmtMs(warm.simCpu)}`],
    ['recipients that decrypted the status', `${decrypted} / ${n}`],
    ['views in the burst (read receipts by LID)', `${views.viewers} (delivered to ${views.delivered} device)`],
    ['burst sent (simulator) → all counted by the API', fmtMs(visible), '≤ 1 s', visible <= 1000 && seen >= n],
    ['viewers listed by the viewers route', `${viewers.size} / ${n}`],
    ['burst: simulator sending all receipts', fmtMs(off.sending)],
    ['burst: worker CPU (per receipt)', `${fmtMs(off.cpu)} (${fmtMs(off.cpu / views.viewers)})`],
    ['webhooks on (one endpoint, every event): burst sent → all counted by the API', fmtMs(on.visible), '≤ 1 s', on.visible <= 1000 && on.seen >= n],
    ['webhooks on: burst sent → the receiver has every viewer (signed deliveries)', `${fmtMs(allReceived)} (${receiver.viewers.size} / ${n} viewers, ${receiver.state.deliveries} deliveries)`],
    ['webhooks on: worker CPU (per receipt)', `${fmtMs(on.cpu)} (${fmtMs(on.cpu / on.views.viewers)})`],
    ['Postgres rows written per view', `${pg.totalRows.toFixed(2)} (${rowsText(pg.rows)})`],
    ['Postgres WAL bytes per view', fmtBytes(pg.walBytes)],
    ['table + index growth per view', fmtBytes(pg.tableBytes)]
  ])
} finally {
  await stack.stop()
}
process.exit(0)
