// The chaos run's steady load: text statuses sent through the API nodes in turn, each with an
// Idempotency-Key retried as a careful client would, to a few recipient phones that then view it.
import { randomUUID } from 'node:crypto'
import { sleep, type Stack } from '../harness.ts'
import type { Rng } from './rng.ts'

/** One send as the client saw it. */
export interface SendRecord {
  key: string
  sessionId: string
  sender: string
  content: string
  targets: string[]
  startedAt: number
  /** The final answer (0: network error on every attempt). */
  status: number
  attempts: number
  statusId?: string
  /** The statuses answered along the way (retries included). */
  answers: number[]
  viewed?: { at: number, viewers: number, delivered: number, queued: number } | { error: string }
}

export interface LoadOptions {
  senders: Array<{ sessionId: string, phone: string }>
  recipients: string[]
  perSecond: number
  rng: Rng
  log: (line: string) => void
}

const RETRIABLE = new Set([0, 503, 504])

/** POST send-status with the key; network errors answer 0. */
async function post (stack: Stack, node: number, rec: SendRecord): Promise<{ status: number, body: any }> {
  const api = stack.apis[node]
  if (!api) return { status: 0, body: null }
  try {
    const res = await fetch(`${api.url}/api/sessions/${rec.sessionId}/send-status`, {
      method: 'POST',
      headers: { 'x-api-key': stack.apiKey, 'content-type': 'application/json', 'idempotency-key': rec.key },
      body: JSON.stringify({ type: 'text', content: rec.content, targetNumbers: rec.targets }),
      signal: AbortSignal.timeout(60_000)
    })
    const text = await res.text()
    let body: any = null
    try { body = JSON.parse(text) } catch { /* not JSON */ }
    return { status: res.status, body }
  } catch {
    return { status: 0, body: null }
  }
}

/** Sends one status, retrying network errors, 503 and 504 with the same key (through the other node too). */
async function sendOne (stack: Stack, rec: SendRecord, firstNode: number) {
  for (let attempt = 0; attempt < 8; attempt++) {
    rec.attempts++
    const res = await post(stack, (firstNode + attempt) % stack.apis.length, rec)
    rec.answers.push(res.status)
    rec.status = res.status
    if (res.body?.data?.id) rec.statusId = res.body.data.id
    else if (res.body?.details?.statusId) rec.statusId = res.body.details.statusId
    if (!RETRIABLE.has(res.status)) return
    await sleep(500 * 2 ** Math.min(attempt, 3))
  }
}

/** The recipients view the status a moment after it arrived on their phones (read receipts). */
async function view (stack: Stack, rec: SendRecord, messageId: string, rng: Rng) {
  await sleep(500 + rng.int(3000))
  try {
    const status = await stack.sim.status(rec.sender, messageId, 30_000)
    const decrypted = new Set(status.recipients.filter(r => r.decrypted).map(r => r.phone))
    const viewers = rec.targets.filter(t => decrypted.has(t))
    const res = await stack.sim.viewStatus(rec.sender, messageId, { viewers })
    rec.viewed = { at: Date.now(), ...res }
  } catch (err) {
    rec.viewed = { error: (err as Error).message }
  }
}

/**
 * Runs the load until `stop()`: one send every 1/perSecond s (not waiting for answers), alternating
 * API nodes; every 201 is viewed by its recipients. Resolves with every send once all settled.
 */
export function startLoad (stack: Stack, opts: LoadOptions) {
  const sends: SendRecord[] = []
  const inflight = new Set<Promise<void>>()
  const state = { stopped: false }
  let i = 0
  const messageIdOf = async (statusId: string) => (await stack.prisma.status.findUnique({ where: { id: statusId }, select: { messageId: true } }))?.messageId
  const loop = (async () => {
    const interval = 1000 / opts.perSecond
    const t0 = Date.now()
    while (!state.stopped) {
      const sender = opts.senders[i % opts.senders.length]!
      const targets = opts.rng.pick(opts.recipients, 3)
      const key = randomUUID()
      const rec: SendRecord = { key, sessionId: sender.sessionId, sender: sender.phone, content: `chaos ${i} ${key}`, targets, startedAt: Date.now(), status: -1, attempts: 0, answers: [] }
      sends.push(rec)
      const node = i % 2
      const p = (async () => {
        await sendOne(stack, rec, node)
        if (rec.status === 201 && rec.statusId) {
          const messageId = await messageIdOf(rec.statusId).catch(() => null)
          if (messageId) await view(stack, rec, messageId, opts.rng)
        }
      })()
      inflight.add(p)
      void p.finally(() => inflight.delete(p))
      i++
      const next = t0 + i * interval
      await sleep(Math.max(0, next - Date.now()))
    }
  })()
  return {
    sends,
    async stop () {
      state.stopped = true
      await loop
      while (inflight.size) await Promise.all([...inflight])
      return sends
    }
  }
}
