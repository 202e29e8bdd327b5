import { generateMessageIDV2, jidDecode, type BinaryNode, type WASocket, type proto } from '@whiskeysockets/baileys'
import type { PrismaClient, Status } from '@wss/db'
import { AppError, toStatus } from '@wss/shared'
import type { Logger } from 'pino'
import type { EventPublisher } from '../events.ts'
import { metrics } from '../lib/metrics.ts'
import type { SessionRuntime } from '../sessions/session-runtime.ts'
import { linkPreview } from './link-preview.ts'
import type { SafeFetchOptions } from './safe-fetch.ts'
import { loadStatusMedia } from './status-media.ts'

export interface StatusServiceDeps {
  prisma: PrismaClient
  events: EventPublisher
  logger: Logger
  fetch: SafeFetchOptions
  config: { SEND_MIN_INTERVAL_MS: number, SEND_JITTER_MS: number, STATUS_CHUNK_SIZE: number, ACK_TIMEOUT_MS: number }
}

const DAY_MS = 24 * 60 * 60 * 1000
const jidOf = (number: string) => `${number}@s.whatsapp.net`

/** The recipients of one status in stanzas of at most `size`. */
function chunked<T> (list: T[], size: number): T[][] {
  const chunks: T[][] = []
  for (let i = 0; i < list.length; i += size) chunks.push(list.slice(i, i + size))
  return chunks
}

/**
 * Sends and revokes statuses on the owning worker, in stanzas of STATUS_CHUNK_SIZE recipients,
 * waiting for WhatsApp's ack of each sent stanza.
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
    if (status.type === 'url') return { message: { text: status.content, linkPreview: await linkPreview(status.content, deps.fetch) }, options }
    const { bytes, mimetype } = await loadStatusMedia(status, deps)
    const caption = status.caption ?? undefined
    if (status.type === 'image') return { message: { image: bytes, caption, mimetype }, options }
    return { message: { video: bytes, caption, mimetype }, options }
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

    const chunks = chunked(audience, deps.config.STATUS_CHUNK_SIZE)
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
      // Chunked as the send was: one stanza for a large audience is what WhatsApp rate-limits.
      for (const chunk of chunked(status.audience, deps.config.STATUS_CHUNK_SIZE)) {
        await sock.sendMessage('status@broadcast', { delete: key }, { statusJidList: chunk, broadcast: true } as never)
      }
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
