import { generateMessageIDV2, jidDecode, type BinaryNode, type WASocket, type proto } from '@whiskeysockets/baileys'
import type { PrismaClient, Status } from '@wss/db'
import { AppError, toStatus } from '@wss/shared'
import type { Logger } from 'pino'
import type { EventPublisher } from '../events.ts'
import { metrics } from '../lib/metrics.ts'
import type { SessionRuntime } from '../sessions/session-runtime.ts'
import { FetchError, safeFetch, type SafeFetchOptions } from './safe-fetch.ts'

export interface StatusServiceDeps {
  prisma: PrismaClient
  events: EventPublisher
  logger: Logger
  fetch: SafeFetchOptions
  config: { SEND_MIN_INTERVAL_MS: number, SEND_JITTER_MS: number, STATUS_CHUNK_SIZE: number, ACK_TIMEOUT_MS: number }
}

const DAY_MS = 24 * 60 * 60 * 1000
const jidOf = (number: string) => `${number}@s.whatsapp.net`

/**
 * Sends and revokes statuses on the owning worker, waiting for WhatsApp's ack of each stanza,
 * and records viewers from read/played receipts (both arrival paths) in batches.
 */
export function createStatusService (deps: StatusServiceDeps) {
  const { prisma, events, logger } = deps
  const nextSendAt = new Map<string, number>()

  /** Waits for the server's ack of a message id on this socket: resolves the error code, or null when accepted. */
  function waitForAck (sock: WASocket, messageId: string, timeoutMs: number): { promise: Promise<string | null>, cancel (): void } {
    let onAck!: (node: BinaryNode) => void
    let onUpsert!: (arg: { messages: proto.IWebMessageInfo[] }) => void
    let timer!: NodeJS.Timeout
    const cleanup = () => {
      clearTimeout(timer)
      sock.ws.off('CB:ack,class:message', onAck)
      sock.ev.off('messages.upsert', onUpsert)
    }
    const promise = new Promise<string | null>((resolve, reject) => {
      onAck = node => {
        if (node.attrs.id !== messageId) return
        cleanup()
        resolve(node.attrs.error ?? null)
      }
      // An error ack arriving while the send's own upsert is buffered is folded into it (status ERROR).
      onUpsert = ({ messages }) => {
        for (const m of messages) {
          if (m.key?.id === messageId && m.status === 0 && m.messageStubParameters?.length) {
            cleanup()
            resolve(String(m.messageStubParameters[0]))
          }
        }
      }
      sock.ws.on('CB:ack,class:message', onAck)
      sock.ev.on('messages.upsert', onUpsert)
      timer = setTimeout(() => { cleanup(); reject(new AppError('WORKER_TIMEOUT', 'WhatsApp did not acknowledge the status in time')) }, timeoutMs)
    })
    // Awaited only after sendMessage returns: a timeout before then must not be an unhandled rejection.
    promise.catch(() => undefined)
    return { promise, cancel: cleanup }
  }

  async function pace (sessionId: string) {
    const { SEND_MIN_INTERVAL_MS, SEND_JITTER_MS } = deps.config
    const now = Date.now()
    const at = Math.max(now, nextSendAt.get(sessionId) ?? 0)
    nextSendAt.set(sessionId, at + SEND_MIN_INTERVAL_MS + Math.floor(Math.random() * (SEND_JITTER_MS + 1)))
    if (at > now) await new Promise(resolve => setTimeout(resolve, at - now))
  }

  async function content (status: Status): Promise<{ message: Record<string, unknown>, options: Record<string, unknown> }> {
    const options: Record<string, unknown> = {}
    if (status.backgroundColor) options.backgroundColor = status.backgroundColor
    if (status.font != null) options.font = status.font
    if (status.type === 'text') return { message: { text: status.content }, options }
    if (status.type === 'url') return { message: { text: status.content, linkPreview: await linkPreview(status.content) }, options }
    let bytes: Buffer
    let mimetype: string | undefined
    if (status.uploadId) {
      const upload = await prisma.upload.findUnique({ where: { id: status.uploadId } })
      if (!upload) throw new AppError('FILE_NOT_FOUND', `upload ${status.uploadId} no longer exists`)
      bytes = Buffer.from(upload.data)
      mimetype = upload.mimeType
    } else {
      try {
        const res = await safeFetch(status.content, deps.fetch)
        bytes = res.body
        mimetype = res.contentType?.split(';')[0]
      } catch (err) {
        if (err instanceof FetchError) throw new AppError('BAD_REQUEST', `media could not be fetched: ${err.message}`)
        throw err
      }
    }
    const caption = status.caption ?? undefined
    if (status.type === 'image') return { message: { image: bytes, caption, ...(mimetype ? { mimetype } : {}) }, options }
    return { message: { video: bytes, caption, ...(mimetype ? { mimetype } : {}) }, options }
  }

  /** A link preview when the page can be fetched (title and description), else a plain link. */
  async function linkPreview (url: string) {
    try {
      const res = await safeFetch(url, { ...deps.fetch, maxBytes: Math.min(deps.fetch.maxBytes, 512 * 1024) })
      if (!res.contentType?.includes('html')) return null
      const html = res.body.toString('utf8')
      const meta = (name: string) => new RegExp(`<meta[^>]+(?:property|name)=["']${name}["'][^>]*content=["']([^"']*)["']`, 'i').exec(html)?.[1]
      const title = meta('og:title') ?? /<title[^>]*>([^<]*)<\/title>/i.exec(html)?.[1]?.trim()
      if (!title) return null
      return { 'canonical-url': res.finalUrl, 'matched-text': url, title, description: meta('og:description') ?? meta('description') }
    } catch {
      return null
    }
  }

  const inFlight = new Map<string, Promise<Status>>()

  return {
    /**
     * Sends a pending status and resolves the stored row once WhatsApp acknowledged every stanza.
     * Idempotent by the status id: a retried command returns the first outcome, and concurrent
     * commands for one status share one send.
     */
    send (runtime: SessionRuntime, statusId: string): Promise<Status> {
      const running = inFlight.get(statusId)
      if (running) return running
      const work = sendOnce(runtime, statusId).finally(() => inFlight.delete(statusId))
      inFlight.set(statusId, work)
      return work
    },

    revoke
  }

  async function sendOnce (runtime: SessionRuntime, statusId: string): Promise<Status> {
    const status = await prisma.status.findFirst({ where: { id: statusId, sessionId: runtime.sessionId } })
    if (!status) throw new AppError('STATUS_NOT_FOUND', `status ${statusId} not found`)
    if (status.state === 'sent' || status.state === 'deleted') return status
    if (status.state === 'failed') throw new AppError('WHATSAPP_REFUSED', status.error ?? 'WhatsApp refused the status')
    const sock = runtime.sock
    if (!runtime.connected || !sock?.user) throw new AppError('SESSION_NOT_CONNECTED', 'the session is not connected')

    const own = jidOf(jidDecode(sock.user.id)!.user)
    const audience = [own, ...status.targetNumbers.map(jidOf).filter(j => j !== own)]
    let built: Awaited<ReturnType<typeof content>>
    try {
      built = await content(status)
    } catch (err) {
      const message = err instanceof AppError ? err.message : 'the status content could not be prepared'
      await markFailed(status, message)
      metrics.statusesSent.inc({ type: status.type, outcome: 'failed' })
      throw err instanceof AppError ? err : new AppError('INTERNAL', message)
    }
    await pace(runtime.sessionId)
    // One WhatsApp message id per status, whoever sends it first (another process may race us):
    // a resend after a crash reuses it, and recipients keep one status per id.
    if (!status.messageId) {
      await prisma.status.updateMany({ where: { id: status.id, messageId: null }, data: { messageId: generateMessageIDV2(sock.user.id), audience } })
    }
    const messageId = (await prisma.status.findUniqueOrThrow({ where: { id: status.id }, select: { messageId: true } })).messageId!

    const chunks: string[][] = []
    for (let i = 0; i < audience.length; i += deps.config.STATUS_CHUNK_SIZE) chunks.push(audience.slice(i, i + deps.config.STATUS_CHUNK_SIZE))
    let sent = 0
    for (const chunk of chunks) {
      const ack = waitForAck(sock, messageId, deps.config.ACK_TIMEOUT_MS)
      try {
        await sock.sendMessage('status@broadcast', built.message as never, { statusJidList: chunk, broadcast: true, messageId, ...built.options } as never)
      } catch (err) {
        ack.cancel()
        logger.warn({ sessionId: runtime.sessionId, statusId, err: (err as Error).message }, 'status send failed')
        throw new AppError('SESSION_NOT_CONNECTED', 'the connection dropped while sending; retry the request')
      }
      const error = await ack.promise
      if (error) {
        const reason = `WhatsApp refused the status (error ${error})`
        await markFailed(status, reason)
        metrics.statusesSent.inc({ type: status.type, outcome: 'refused' })
        throw new AppError('WHATSAPP_REFUSED', reason)
      }
      sent += chunk.length
      if (chunks.length > 1) events.publish('status-progress', { sessionId: runtime.sessionId, id: status.id, sent, total: audience.length })
    }
    const sentAt = new Date()
    metrics.statusesSent.inc({ type: status.type, outcome: 'sent' })
    metrics.statusAck.observe({ type: status.type }, (sentAt.getTime() - status.createdAt.getTime()) / 1000)
    const row = await prisma.status.update({
      where: { id: status.id },
      data: { state: 'sent', sentAt, expiresAt: new Date(sentAt.getTime() + DAY_MS), error: null }
    })
    // Nobody can have viewed it before it was sent.
    events.publish('status-sent', toStatus(row, 0))
    events.publish('statuses-updated', { sessionId: runtime.sessionId })
    return row
  }

  /** Revokes a sent status on WhatsApp and marks it deleted. */
  async function revoke (runtime: SessionRuntime, statusId: string): Promise<Status> {
    const status = await prisma.status.findFirst({ where: { id: statusId, sessionId: runtime.sessionId } })
    if (!status) throw new AppError('STATUS_NOT_FOUND', `status ${statusId} not found`)
    if (status.state === 'deleted') return status
    if (status.state === 'sent' && status.messageId) {
      const sock = runtime.sock
      if (!runtime.connected || !sock) throw new AppError('SESSION_NOT_CONNECTED', 'the session is not connected')
      const key = { remoteJid: 'status@broadcast', fromMe: true, id: status.messageId }
      await sock.sendMessage('status@broadcast', { delete: key }, { statusJidList: status.audience, broadcast: true } as never)
    }
    const row = await prisma.status.update({ where: { id: status.id }, data: { state: 'deleted', deletedAt: new Date() } })
    events.publish('status-deleted', { sessionId: runtime.sessionId, statusId: row.id })
    events.publish('statuses-updated', { sessionId: runtime.sessionId })
    return row
  }

  async function markFailed (status: Status, error: string) {
    await prisma.status.update({ where: { id: status.id }, data: { state: 'failed', error } })
    events.publish('status-failed', { sessionId: status.sessionId, id: status.id, error })
  }
}

export type StatusService = ReturnType<typeof createStatusService>

interface PendingView { sessionId: string, sock: WASocket, messageId: string, participant: string, at: Date, played: boolean }
interface ViewRow { sessionId: string, messageId: string, viewer: string, viewerLid: string | null, at: Date, played: boolean }

/**
 * Collects viewers from receipts and writes them in batches: the LIDs of a batch mapped to phone
 * numbers in one lookup per session, then one INSERT ... ON CONFLICT DO NOTHING per flush (the first
 * view time is kept), then one event per status with the new viewers only.
 */
export function createViewerRecorder (deps: { prisma: PrismaClient, events: EventPublisher, logger: Logger, flushMs?: number, maxBatch?: number }) {
  const pending: PendingView[] = []
  let timer: NodeJS.Timeout | undefined
  let flushing: Promise<void> = Promise.resolve()

  const schedule = () => {
    if (pending.length >= (deps.maxBatch ?? 1000)) { void flush(); return }
    timer ??= setTimeout(() => { void flush() }, deps.flushMs ?? 25)
  }

  function flush (): Promise<void> {
    clearTimeout(timer)
    timer = undefined
    const batch = pending.splice(0, pending.length)
    if (!batch.length) return flushing
    flushing = flushing.then(async () => {
      const done = metrics.viewerFlush.startTimer()
      await write(await resolve(batch))
      done()
    }).catch(err => deps.logger.error({ err }, 'viewer batch not written'))
    return flushing
  }

  /** Maps LID viewers to phone numbers (one lookup per socket) and drops the sender's own phone. */
  async function resolve (batch: PendingView[]): Promise<ViewRow[]> {
    const pnByLid = new Map<string, string>()
    const lidsBySock = new Map<WASocket, Set<string>>()
    for (const v of batch) {
      if (!v.participant.endsWith('@lid')) continue
      let lids = lidsBySock.get(v.sock)
      if (!lids) lidsBySock.set(v.sock, lids = new Set())
      lids.add(v.participant)
    }
    for (const [sock, lids] of lidsBySock) {
      const pairs = await sock.signalRepository.lidMapping.getPNsForLIDs([...lids]).catch(() => null)
      for (const { lid, pn } of pairs ?? []) pnByLid.set(lid, pn)
    }
    const own = new Map<WASocket, string | undefined>()
    const rows: ViewRow[] = []
    for (const v of batch) {
      const lid = v.participant.endsWith('@lid')
      const number = jidDecode((lid && pnByLid.get(v.participant)) || v.participant)?.user
      if (!own.has(v.sock)) own.set(v.sock, jidDecode(v.sock.user?.id ?? '')?.user)
      if (!number || number === own.get(v.sock)) continue // the own phone is not a viewer
      rows.push({ sessionId: v.sessionId, messageId: v.messageId, viewer: number, viewerLid: lid ? jidDecode(v.participant)?.user ?? null : null, at: v.at, played: v.played })
    }
    return rows
  }

  async function write (batch: ViewRow[]) {
    if (!batch.length) return
    // Six array parameters, not six per row: building thousands of bound values cost more than the insert.
    const inserted = await deps.prisma.$queryRaw<Array<{ status_id: string, session_id: string, viewer_number: string, viewed_at: Date }>>`
      WITH incoming AS (
        SELECT * FROM unnest(${batch.map(v => v.sessionId)}::text[], ${batch.map(v => v.messageId)}::text[], ${batch.map(v => v.viewer)}::text[],
          ${batch.map(v => v.viewerLid)}::text[], ${batch.map(v => v.at.toISOString())}::timestamptz[], ${batch.map(v => v.played)}::boolean[])
          AS i (session_id, message_id, viewer_number, viewer_lid, viewed_at, played)
      ),
      first_views AS (
        SELECT DISTINCT ON (s.id, i.viewer_number) s.id AS status_id, i.session_id, i.viewer_number, i.viewer_lid, i.viewed_at, i.played
        FROM incoming i JOIN statuses s ON s.session_id = i.session_id AND s.message_id = i.message_id
        ORDER BY s.id, i.viewer_number, i.viewed_at
      )
      INSERT INTO status_viewers (status_id, viewer_number, session_id, viewer_lid, viewed_at, played)
      SELECT status_id, viewer_number, session_id, viewer_lid, viewed_at, played FROM first_views
      ON CONFLICT (status_id, viewer_number) DO NOTHING
      RETURNING status_id, session_id, viewer_number, viewed_at`
    metrics.viewReceipts.inc(inserted.length)
    const byStatus = new Map<string, { sessionId: string, viewers: Array<{ viewerNumber: string, viewedAt: string }> }>()
    for (const r of inserted) {
      const entry = byStatus.get(r.status_id) ?? { sessionId: r.session_id, viewers: [] }
      entry.viewers.push({ viewerNumber: r.viewer_number, viewedAt: r.viewed_at.toISOString() })
      byStatus.set(r.status_id, entry)
    }
    for (const [statusId, { sessionId, viewers }] of byStatus) {
      viewers.sort((a, b) => a.viewedAt.localeCompare(b.viewedAt))
      deps.events.publish('status-viewers-update', { sessionId, statusId, viewers })
    }
  }

  return {
    /** Watches a session's socket for status receipts. */
    watch (runtime: SessionRuntime, sock: WASocket) {
      const record = (messageId: string, participant: string, ts: number, played: boolean) => {
        pending.push({ sessionId: runtime.sessionId, sock, messageId, participant, at: new Date(ts * 1000), played })
        schedule()
      }
      sock.ev.on('message-receipt.update', updates => {
        for (const { key, receipt } of updates) {
          if (key.remoteJid !== 'status@broadcast' || !key.id || !receipt.userJid) continue
          const ts = Number(receipt.readTimestamp ?? receipt.playedTimestamp ?? 0)
          if (!ts) continue
          record(key.id, receipt.userJid, ts, !!receipt.playedTimestamp)
        }
      })
      // Receipts that arrive while the send's own upsert is buffered are folded into it.
      sock.ev.on('messages.upsert', ({ messages }) => {
        for (const m of messages) {
          if (m.key?.remoteJid !== 'status@broadcast' || !m.key.fromMe || !m.key.id) continue
          for (const r of m.userReceipt ?? []) {
            const ts = Number(r.readTimestamp ?? r.playedTimestamp ?? 0)
            if (r.userJid && ts) record(m.key.id, r.userJid, ts, !!r.playedTimestamp)
          }
        }
      })
    },
    flush
  }
}

export type ViewerRecorder = ReturnType<typeof createViewerRecorder>
