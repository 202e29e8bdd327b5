// The chaos run's invariants, checked at the end against the simulator (what WhatsApp saw), the
// database (what the product stored) and the clients (what they were told).
import type { DeviceLog } from '@wss/wa-sim'
import type { Stack } from '../harness.ts'
import type { FaultOutcome } from './faults.ts'
import type { Listener } from './listeners.ts'
import type { SendRecord } from './load.ts'

export interface Check { name: string, ok: boolean, detail: string }

/** Two logged-in sockets of one device at once, as the simulator's log shows (login → socket closed). */
export interface Overlap { device: string, start: number, ms: number, inPause: boolean }

export function overlaps (logs: Record<string, DeviceLog>, devices: string[], paused: Array<[number, number]>): Overlap[] {
  const out: Overlap[] = []
  for (const device of devices) {
    const entries = logs[device]?.entries ?? []
    const open = new Map<number, number>()
    const intervals: Array<[number, number]> = []
    for (const e of entries) {
      if (e.connId === undefined) continue
      if (e.event === 'login') open.set(e.connId, e.at)
      if (e.event === 'disconnect' && open.has(e.connId)) { intervals.push([open.get(e.connId)!, e.at]); open.delete(e.connId) }
    }
    for (const start of open.values()) intervals.push([start, Date.now()])
    intervals.sort((a, b) => a[0] - b[0])
    for (let i = 0; i < intervals.length; i++) {
      for (let j = i + 1; j < intervals.length && intervals[j]![0] < intervals[i]![1]; j++) {
        const start = intervals[j]![0]
        const ms = Math.min(intervals[i]![1], intervals[j]![1]) - start
        const inPause = paused.some(([a, b]) => start >= a && start <= b + 5000)
        out.push({ device, start, ms, inPause })
      }
    }
  }
  return out
}

interface StoredStatus { id: string, state: string, messageId: string | null, content: string | null, sentAt: Date | null, viewers: number }

/** Sends: every 201 on every recipient's phone once, every 202 settled, none pending, none posted twice. */
export async function checkSends (stack: Stack, sends: SendRecord[], t0: number): Promise<{ checks: Check[], rows: Map<string, StoredStatus> }> {
  const rows = new Map<string, StoredStatus>()
  for (const r of await stack.prisma.status.findMany({ select: { id: true, state: true, messageId: true, content: true, sentAt: true, _count: { select: { viewers: true } } } })) {
    rows.set(r.id, { id: r.id, state: r.state, messageId: r.messageId, content: r.content, sentAt: r.sentAt, viewers: r._count.viewers })
  }
  const simByText = new Map<string, number>()
  const simStatuses = new Map<string, Awaited<ReturnType<Stack['sim']['statuses']>>[number]>()
  for (const sender of new Set(sends.map(s => s.sender))) {
    for (const st of await stack.sim.statuses(sender)) {
      if (st.sender !== sender) continue
      if (st.text) simByText.set(st.text, (simByText.get(st.text) ?? 0) + 1)
      simStatuses.set(`${sender}/${st.id}`, st)
    }
  }
  const bySid = new Map(sends.filter(s => s.statusId).map(s => [s.statusId!, s]))
  const sendText = (id: string) => { const s = bySid.get(id); return s ? `${id} (sent at +${((s.startedAt - t0) / 1000).toFixed(1)} s to ${s.sessionId}, answers ${s.answers.join(',')})` : id }
  const notReached: string[] = []
  const unsettled: string[] = []
  for (const s of sends) {
    const row = s.statusId ? rows.get(s.statusId) : undefined
    if (s.status === 202 && row?.state !== 'sent' && row?.state !== 'failed') unsettled.push(`${s.statusId ? sendText(s.statusId) : s.key}: ${row?.state ?? 'no row'}`)
    if (s.status !== 201 && !(s.status === 202 && row?.state === 'sent')) continue
    const st = row?.messageId ? simStatuses.get(`${s.sender}/${row.messageId}`) : undefined
    const missing = s.targets.filter(t => (st?.recipients.filter(r => r.phone === t && r.decrypted).length ?? 0) !== 1)
    if (!st || missing.length) notReached.push(`${s.statusId} (${s.status}): ${st ? `not decrypted once by ${missing.join(', ')}` : 'not on WhatsApp'}`)
  }
  const pending = [...rows.values()].filter(r => r.state === 'pending').map(r => sendText(r.id))
  const twice = [...simByText].filter(([, n]) => n > 1).map(([text]) => text)
  const byContent = new Map<string, number>()
  for (const r of rows.values()) if (r.content) byContent.set(r.content, (byContent.get(r.content) ?? 0) + 1)
  const rowsTwice = [...byContent].filter(([, n]) => n > 1).map(([c]) => c)
  const n201 = sends.filter(s => s.status === 201).length
  const n202 = sends.filter(s => s.status === 202).length
  return {
    rows,
    checks: [
      { name: 'every 201 reached every recipient\'s phone exactly once', ok: notReached.length === 0, detail: notReached.length ? notReached.slice(0, 5).join('; ') : `${n201} sends answered 201 (and ${n202 - unsettled.length} 202s that ended sent or failed)` },
      { name: 'every 202 ends sent or failed', ok: unsettled.length === 0, detail: unsettled.length ? unsettled.slice(0, 5).join('; ') : `${n202} answered 202` },
      { name: 'no status stays pending', ok: pending.length === 0, detail: pending.length ? pending.slice(0, 5).join(', ') : `${rows.size} status rows` },
      { name: 'no status posted twice', ok: twice.length === 0 && rowsTwice.length === 0, detail: twice.length || rowsTwice.length ? `on WhatsApp: ${twice.slice(0, 3).join('; ')}; rows: ${rowsTwice.slice(0, 3).join('; ')}` : `${simByText.size} statuses on WhatsApp, each once` }
    ]
  }
}

/** Views: every receipt the simulator saw acknowledged is stored, once; no viewer row lost. */
export async function checkViews (stack: Stack, sends: SendRecord[], rows: Map<string, StoredStatus>): Promise<Check[]> {
  const lost: string[] = []
  let acked = 0
  let viewed = 0
  for (const s of sends) {
    if (!s.viewed || 'error' in s.viewed || !s.statusId) continue
    const row = rows.get(s.statusId)
    if (!row?.messageId) continue
    const st = await stack.sim.status(s.sender, row.messageId)
    const acks = st.receiptAcks ?? 0
    viewed += s.viewed.viewers
    acked += Math.min(acks, s.viewed.viewers)
    // Each viewer sends one read receipt (text statuses); an acknowledged receipt must be a stored viewer.
    if (row.viewers < Math.min(acks, s.viewed.viewers)) lost.push(`${s.statusId}: ${acks} receipts acked, ${row.viewers} viewers stored`)
    if (row.viewers > s.viewed.viewers) lost.push(`${s.statusId}: ${row.viewers} viewers stored for ${s.viewed.viewers} viewing`)
  }
  const viewErrors = sends.filter(s => s.viewed && 'error' in s.viewed).length
  return [
    { name: 'every acked view receipt stored exactly once', ok: lost.length === 0, detail: lost.length ? lost.slice(0, 5).join('; ') : `${acked} of ${viewed} receipts acked, all stored (${viewErrors} views not made: status not decrypted in time)` }
  ]
}

/** Clients: every status-sent/status-failed once per client, or missed while that client was disconnected. */
export function checkEvents (listeners: Listener[], rows: Map<string, StoredStatus>, t0: number): { checks: Check[], lines: string[] } {
  const lines: string[] = []
  let bad = 0
  for (const l of listeners) {
    const seen = new Map<string, number>()
    for (const e of l.events) if ((e.event === 'status-sent' || e.event === 'status-failed') && e.data?.id) seen.set(`${e.event}/${e.data.id}`, (seen.get(`${e.event}/${e.data.id}`) ?? 0) + 1)
    let dup = 0
    let gap = 0
    let missed = 0
    const missedIds: string[] = []
    // Its own disconnections, and the periods its node announced it could not receive events in.
    const notices = l.events.filter(e => e.event === 'events-gap').map(e => [Date.parse(e.data.from), Date.parse(e.data.to)] as [number, number])
    const gaps = [...l.gaps(), ...notices]
    for (const r of rows.values()) {
      if (r.state !== 'sent' || !r.sentAt) continue
      const n = seen.get(`status-sent/${r.id}`) ?? 0
      if (n > 1) dup++
      if (n > 0) continue
      const t = r.sentAt.getTime()
      if (gaps.some(([a, b]) => a <= t + 5000 && b >= t - 2000)) gap++
      else { missed++; missedIds.push(`${r.id.slice(0, 8)} sent at +${((t - t0) / 1000).toFixed(1)} s`) }
    }
    if (dup || missed) bad++
    const down = gaps.some(g => g[1] === Infinity) ? ' (disconnected at the end, never reconnected)' : ''
    lines.push(`${l.name}: ${l.events.length} events, ${l.connects - 1} reconnects${down}, ${notices.length} events-gap notices, ${dup} duplicates, ${gap} missed in a gap (disconnected, or announced by events-gap), ${missed} missed otherwise${missedIds.length ? ` (${missedIds.slice(0, 3).join(', ')})` : ''}`)
  }
  return { lines, checks: [{ name: 'each client got every status event once, or in a gap of its own', ok: bad === 0, detail: `${listeners.length} clients, ${bad} with duplicates or losses` }] }
}

export function checkRecovery (outcomes: Array<FaultOutcome & { recoveryMs: number }>, boundMs: number, t0: number): Check {
  const slow = outcomes.filter(o => o.recoveryMs > boundMs)
  return { name: `every session connected again within ${boundMs / 1000} s of each fault`, ok: slow.length === 0, detail: slow.length ? slow.map(o => `${o.kind} at +${((o.at - t0) / 1000).toFixed(1)} s: ${(o.recoveryMs / 1000).toFixed(1)} s`).join('; ') : `${outcomes.length} faults` }
}
