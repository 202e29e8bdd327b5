import { generateMessageIDV2, jidDecode, type WASocket } from '@whiskeysockets/baileys'
import type { PrismaClient, Status } from '@wss/db'
import { AppError, failedStatusCode, toStatus } from '@wss/shared'
import type { Logger } from 'pino'
import { TransientRefusal } from '../commands/transient-refusal.ts'
import type { EventPublisher } from '../events.ts'
import { metrics } from '../lib/metrics.ts'
import type { SessionRuntime } from '../sessions/session-runtime.ts'
import { jidOf, resolveAudience } from './audience.ts'
import { chunked } from './chunked.ts'
import { linkPreview } from './link-preview.ts'
import type { SafeFetchOptions } from './safe-fetch.ts'
import { graceExpiredReason, pastGrace, sentTooLateReason } from './schedule-grace.ts'
import { loadStatusMedia } from './status-media.ts'
import { waitForAck } from './wait-for-ack.ts'

export interface StatusServiceDeps {
  prisma: PrismaClient
  events: EventPublisher
  logger: Logger
  fetch: SafeFetchOptions
  config: { SEND_MIN_INTERVAL_MS: number, SEND_JITTER_MS: number, STATUS_CHUNK_SIZE: number, ACK_TIMEOUT_MS: number, MAX_AUDIENCE: number, SCHEDULE_GRACE_MINUTES: number }
}

const DAY_MS = 24 * 60 * 60 * 1000

type Built = { message: Record<string, unknown>, options: Record<string, unknown> }
type Pace = (sessionId: string) => Promise<void>

/**
 * Sends and revokes statuses on the owning worker, in stanzas of STATUS_CHUNK_SIZE recipients,
 * waiting for WhatsApp's ack of each sent stanza.
 */
export function createStatusService (deps: StatusServiceDeps) {
  const pace = createPacer(deps.config)
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
      const work = sendOnce(deps, pace, runtime, statusId).finally(() => inFlight.delete(statusId))
      inFlight.set(statusId, work)
      return work
    },

    /** Revokes a sent status on WhatsApp and marks it deleted. */
    revoke: (runtime: SessionRuntime, statusId: string): Promise<Status> => revoke(deps, runtime, statusId)
  }
}

/** Spaces a session's sends by SEND_MIN_INTERVAL_MS plus up to SEND_JITTER_MS. */
function createPacer (config: StatusServiceDeps['config']): Pace {
  const nextSendAt = new Map<string, number>()
  return async function pace (sessionId: string) {
    const { SEND_MIN_INTERVAL_MS, SEND_JITTER_MS } = config
    const now = Date.now()
    const at = Math.max(now, nextSendAt.get(sessionId) ?? 0)
    nextSendAt.set(sessionId, at + SEND_MIN_INTERVAL_MS + Math.floor(Math.random() * (SEND_JITTER_MS + 1)))
    if (at > now) await new Promise(resolve => setTimeout(resolve, at - now))
  }
}

async function content (status: Status, deps: StatusServiceDeps): Promise<Built> {
  const options: Record<string, unknown> = {}
  if (status.backgroundColor) options.backgroundColor = status.backgroundColor
  if (status.font != null) options.font = status.font
  if (status.type === 'text') return { message: { text: status.content }, options }
  if (status.type === 'url') return { message: { text: status.content, linkPreview: await linkPreview(status.content, deps.fetch) }, options }
  const { bytes, mimetype, seconds, waveform } = await loadStatusMedia(status, deps)
  // A voice note (push-to-talk); its length and waveform were read from its samples when uploaded.
  if (status.type === 'audio') return { message: { audio: bytes, mimetype, ptt: true, seconds, waveform }, options: {} }
  const caption = status.caption ?? undefined
  if (status.type === 'image') return { message: { image: bytes, caption, mimetype }, options }
  return { message: { video: bytes, caption, mimetype }, options }
}

async function sendOnce (deps: StatusServiceDeps, pace: Pace, runtime: SessionRuntime, statusId: string): Promise<Status> {
  const { prisma } = deps
  const status = await prisma.status.findFirst({ where: { id: statusId, sessionId: runtime.sessionId } })
  if (!status) throw new AppError('STATUS_NOT_FOUND', `status ${statusId} not found`)
  // Sent, deleted, or not due (scheduled) or never to be sent (cancelled): answered as it is.
  if (status.state === 'sent' || status.state === 'deleted' || status.state === 'scheduled' || status.state === 'cancelled') return status
  if (status.state === 'failed') throw new AppError(failedStatusCode(status.error), status.error ?? 'WhatsApp refused the status')
  const sock = runtime.sock
  if (pastGrace(status.scheduledAt, deps.config.SCHEDULE_GRACE_MINUTES * 60_000)) await tooLate(deps, runtime, status, status.scheduledAt)
  if (!runtime.connected || !sock?.user) throw new TransientRefusal(new AppError('SESSION_NOT_CONNECTED', 'the session is not connected'))

  const built = await buildContent(deps, status)
  // A resend after a crash goes to the audience the first attempt stored with its message id.
  const resolved = status.messageId !== null && status.audience.length > 0 ? null : await audienceOf(deps, sock, status)
  await pace(runtime.sessionId)
  // One WhatsApp message id per status, whoever sends it first (another process may race us):
  // a resend after a crash reuses it (and the audience stored with it), and recipients keep one
  // status per id. Taken only while the row is pending: a status failed meanwhile (its grace ended)
  // is not posted.
  if (resolved !== null) {
    await prisma.status.updateMany({
      where: { id: status.id, state: 'pending', OR: [{ messageId: null }, { audience: { isEmpty: true } }] },
      data: { messageId: status.messageId ?? generateMessageIDV2(sock.user.id), audience: resolved.jids, audienceSize: resolved.jids.length, skipped: resolved.skipped }
    })
  }
  const claimed = await prisma.status.findUniqueOrThrow({ where: { id: status.id } })
  if (claimed.state !== 'pending' || claimed.messageId === null) return await answeredAsItIs(claimed)
  await sendChunks(deps, runtime, sock, status, built, claimed.messageId, claimed.audience)
  return markSent(deps, runtime, status)
}

/** The status's recipients; an audience that cannot be resolved (too large, its list deleted) marks the status failed. */
async function audienceOf (deps: StatusServiceDeps, sock: WASocket, status: Status) {
  try {
    return await resolveAudience({ prisma: deps.prisma, maxAudience: deps.config.MAX_AUDIENCE }, sock, status, jidOf(jidDecode(sock.user!.id)!.user))
  } catch (err) {
    if (err instanceof AppError && (err.code === 'AUDIENCE_TOO_LARGE' || err.code === 'AUDIENCE_LIST_NOT_FOUND')) {
      await markFailed(deps, status, err.message)
      metrics.statusesSent.inc({ type: status.type, outcome: 'failed' })
    }
    throw err
  }
}

/** A status that stopped being pending while its send prepared: answered as sendOnce answers it. */
async function answeredAsItIs (row: Status): Promise<Status> {
  if (row.state === 'failed') throw new AppError('WHATSAPP_REFUSED', row.error ?? 'WhatsApp refused the status')
  return row
}

/**
 * A fired scheduled status whose send runs past `scheduledAt` + SCHEDULE_GRACE_MINUTES (its send
 * was lost and found again late, its session came back late): failed, never posted late.
 */
async function tooLate (deps: StatusServiceDeps, runtime: SessionRuntime, status: Status, scheduledAt: Date): Promise<never> {
  const error = runtime.connected ? sentTooLateReason(scheduledAt) : graceExpiredReason(scheduledAt)
  const { count } = await deps.prisma.status.updateMany({ where: { id: status.id, state: 'pending' }, data: { state: 'failed', error } })
  if (count === 1) {
    deps.events.publish('status-failed', { sessionId: status.sessionId, id: status.id, error })
    deps.events.publish('statuses-updated', { sessionId: status.sessionId })
    metrics.statusesSent.inc({ type: status.type, outcome: 'failed' })
  }
  deps.logger.info({ sessionId: runtime.sessionId, statusId: status.id, scheduledAt }, 'scheduled status past its grace: failed, not posted')
  if (!runtime.connected) throw new AppError('SESSION_NOT_CONNECTED', error)
  throw new AppError('WORKER_TIMEOUT', error)
}

/** The status's message; a failure to prepare it marks the status failed. */
async function buildContent (deps: StatusServiceDeps, status: Status): Promise<Built> {
  try {
    return await content(status, deps)
  } catch (err) {
    const message = err instanceof AppError ? err.message : 'the status content could not be prepared'
    await markFailed(deps, status, message)
    metrics.statusesSent.inc({ type: status.type, outcome: 'failed' })
    throw err instanceof AppError ? err : new AppError('INTERNAL', message)
  }
}

/** Sends one stanza per chunk of the audience, each waiting for its ack; an error ack marks the status failed. */
async function sendChunks (deps: StatusServiceDeps, runtime: SessionRuntime, sock: WASocket, status: Status, built: Built, messageId: string, audience: string[]) {
  const chunks = chunked(audience, deps.config.STATUS_CHUNK_SIZE)
  let sent = 0
  for (const chunk of chunks) {
    const ack = waitForAck(sock, messageId, deps.config.ACK_TIMEOUT_MS)
    try {
      await sock.sendMessage('status@broadcast', built.message as never, { statusJidList: chunk, broadcast: true, messageId, ...built.options } as never)
    } catch (err) {
      ack.cancel()
      deps.logger.warn({ sessionId: runtime.sessionId, statusId: status.id, err: (err as Error).message }, 'status send failed')
      throw new TransientRefusal(new AppError('SESSION_NOT_CONNECTED', 'the connection dropped while sending'))
    }
    const error = await ack.promise
    if (error) {
      const reason = `WhatsApp refused the status (error ${error})`
      await markFailed(deps, status, reason)
      metrics.statusesSent.inc({ type: status.type, outcome: 'refused' })
      throw new AppError('WHATSAPP_REFUSED', reason)
    }
    sent += chunk.length
    if (chunks.length > 1) deps.events.publish('status-progress', { sessionId: runtime.sessionId, id: status.id, sent, total: audience.length })
  }
}

async function markSent (deps: StatusServiceDeps, runtime: SessionRuntime, status: Status): Promise<Status> {
  const sentAt = new Date()
  // Only a pending row: a late expiry and a send never both win.
  const { count } = await deps.prisma.status.updateMany({
    where: { id: status.id, state: 'pending' },
    data: { state: 'sent', sentAt, expiresAt: new Date(sentAt.getTime() + DAY_MS), error: null }
  })
  const row = await deps.prisma.status.findUniqueOrThrow({ where: { id: status.id } })
  if (count === 0) return row
  metrics.statusesSent.inc({ type: status.type, outcome: 'sent' })
  metrics.statusAck.observe({ type: status.type }, (sentAt.getTime() - status.createdAt.getTime()) / 1000)
  // Nobody can have viewed it before it was sent.
  deps.events.publish('status-sent', toStatus(row, 0))
  deps.events.publish('statuses-updated', { sessionId: runtime.sessionId })
  return row
}

async function revoke (deps: StatusServiceDeps, runtime: SessionRuntime, statusId: string): Promise<Status> {
  const { prisma, events } = deps
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

async function markFailed (deps: StatusServiceDeps, status: Status, error: string) {
  await deps.prisma.status.update({ where: { id: status.id }, data: { state: 'failed', error } })
  deps.events.publish('status-failed', { sessionId: status.sessionId, id: status.id, error })
}

export type StatusService = ReturnType<typeof createStatusService>
