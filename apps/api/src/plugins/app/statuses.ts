import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import type { PrismaClient, Status as StatusRow } from '@wss/db'
import {
  AppError,
  CommandName,
  isAppError,
  toStatus,
  type Status,
  type Viewer
} from '@wss/shared'
import type { CommandBus } from './command-bus.ts'
import { isConnected, type SessionsService, type SessionView } from './sessions.ts'
import type { SendStatusBody } from '../../schemas/statuses.ts'
import { isUniqueViolation } from '../../lib/db-errors.ts'
import { ADMIN_SCOPE, mayUseUpload, type KeyScope } from '../../lib/key-scope.ts'
import { fieldError } from '../../lib/validation.ts'
import { requestHash, validateSend } from '../../lib/send-request.ts'
import { cursorDate, cursorString, paginate, type Page } from '../../lib/cursor.ts'

const DAY_MS = 24 * 60 * 60 * 1000
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

type StatusWithCount = StatusRow & { _count: { viewers: number } }

const asStatus = (row: StatusWithCount): Status => toStatus(row, row._count.viewers)

/** The job id of a status's send: BullMQ ignores a second one while the first is queued. */
const sendJobId = (statusId: string) => `send-status-${statusId}`

export interface SendResult {
  status: Status
  /** 201 once acknowledged (or already final), 202 while pending. */
  statusCode: 201 | 202
  /** True when an `Idempotency-Key` matched an earlier request. */
  replayed: boolean
}

export interface StatusesDeps {
  prisma: PrismaClient
  sessions: SessionsService
  commands: CommandBus
  sendTimeoutMs: number
  /** At most this many numbers in `targetNumbers`. */
  maxAudience: number
  log: FastifyBaseLogger
}

/** The statuses service: rows in Postgres, sends and revokes as commands to the session's owner. */
export function createStatusesService (deps: StatusesDeps) {
  const { prisma, sessions, commands, log } = deps

  // Prisma's relation `_count` aggregates the whole viewers table before joining; a grouped
  // count over these statuses' ids uses the (status_id, viewed_at) index instead.
  async function withCounts (rows: StatusRow[]): Promise<StatusWithCount[]> {
    if (rows.length === 0) return []
    const counts = await prisma.statusViewer.groupBy({
      by: ['statusId'],
      where: { statusId: { in: rows.map(r => r.id) } },
      _count: { _all: true }
    })
    const byId = new Map(counts.map(c => [c.statusId, c._count._all]))
    return rows.map(row => ({ ...row, _count: { viewers: byId.get(row.id) ?? 0 } }))
  }

  // One query for the common case; the session is only looked up to name the right 404.
  async function findInSession (sessionId: string, statusId: string): Promise<StatusWithCount> {
    const row = UUID.test(statusId)
      ? await prisma.status.findFirst({ where: { id: statusId, sessionId } })
      : null
    if (row !== null) return (await withCounts([row]))[0]!
    await sessions.load(sessionId)
    throw new AppError('STATUS_NOT_FOUND', `Status ${statusId} not found in session ${sessionId}`)
  }

  /**
   * Enqueues the send to `target` and waits for the ack: the status as the worker answers it (201),
   * or as stored while it is still pending (202, when the worker has not answered in time).
   */
  async function dispatch (row: StatusWithCount, target: string): Promise<SendResult> {
    try {
      const status = await commands.send(CommandName.SendStatus, { sessionId: row.sessionId, statusId: row.id }, {
        waitMs: deps.sendTimeoutMs,
        target,
        jobId: sendJobId(row.id)
      })
      return { status, statusCode: 201, replayed: false }
    } catch (err) {
      if (!isAppError(err)) throw err
      if (err.code === 'WORKER_TIMEOUT') return { status: asStatus(row), statusCode: 202, replayed: false }
      if (err.code === 'WHATSAPP_REFUSED') throw new AppError('WHATSAPP_REFUSED', err.message, { statusId: row.id })
      throw err
    }
  }

  /**
   * An earlier request with the same key: answer its status. A pending one is queued again under
   * its send's job id, answered 202 at once: BullMQ ignores the copy while the first job waits, and
   * the worker's send is idempotent by the status id (it never posts a status twice), so a first
   * enqueue that failed, or a job lost with its worker, is made good without a second post.
   */
  async function replay (view: SessionView, row: StatusWithCount, hash: string): Promise<SendResult> {
    // Rows stored before the hash was kept have none: they replay as they always did.
    if (row.requestHash !== null && row.requestHash !== hash) {
      throw new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used with a different request: use a new key for a new status', { statusId: row.id })
    }
    if (row.state === 'failed') {
      throw new AppError('WHATSAPP_REFUSED', row.error ?? 'WhatsApp refused the status', { statusId: row.id })
    }
    if (row.state !== 'pending') return { status: asStatus(row), statusCode: 201, replayed: true }
    const target = view.owner?.alive === true ? view.owner.workerId : undefined
    try {
      await commands.enqueue(CommandName.SendStatus, { sessionId: row.sessionId, statusId: row.id }, { jobId: sendJobId(row.id), ...(target === undefined ? {} : { target }) })
      log.info({ sessionId: row.sessionId, statusId: row.id }, 'pending status queued again on a retried request')
    } catch (err) {
      // No worker is alive: the status waits, as its first job does.
      if (!isAppError(err) || err.code !== 'NO_WORKER') throw err
    }
    return { status: asStatus(row), statusCode: 202, replayed: true }
  }

  async function byKey (sessionId: string, idempotencyKey: string): Promise<StatusWithCount | null> {
    const row = await prisma.status.findUnique({ where: { sessionId_idempotencyKey: { sessionId, idempotencyKey } } })
    return row === null ? null : (await withCounts([row]))[0]!
  }

  return {
    /**
     * Validates, stores the status (pending) and asks the owner to send it. 201 once WhatsApp
     * acknowledged it, 202 while pending past `sendTimeoutMs`, 502 when WhatsApp refused it.
     */
    async send (sessionId: string, body: SendStatusBody, idempotencyKey?: string, scope: KeyScope = ADMIN_SCOPE): Promise<SendResult> {
      const input = validateSend(body, deps.maxAudience)
      const hash = requestHash(input)
      const view = await sessions.load(sessionId)
      if (idempotencyKey !== undefined) {
        const earlier = await byKey(sessionId, idempotencyKey)
        if (earlier !== null) return await replay(view, earlier, hash)
      }
      if (!isConnected(view) || view.owner === null) {
        throw new AppError('SESSION_NOT_CONNECTED', `Session ${sessionId} is not connected`)
      }
      const owner = view.owner.workerId

      if (input.upload !== null) {
        const upload = await prisma.upload.findUnique({ where: { id: input.upload }, select: { kind: true, expiresAt: true, ownerKeyId: true } })
        const expired = upload?.expiresAt != null && upload.expiresAt.getTime() <= Date.now()
        // Another key's upload is as missing as an unknown one.
        if (upload === null || upload.kind !== input.type || expired || !mayUseUpload(scope, upload.ownerKeyId)) {
          throw new AppError('FILE_NOT_FOUND', `File ${input.upload} not found among the uploaded ${input.type}s`)
        }
      }

      const statusId = randomUUID()
      const now = new Date()
      let created: StatusRow
      try {
        [created] = await prisma.$transaction([
          prisma.status.create({
            data: {
              id: statusId,
              sessionId,
              type: input.type,
              content: input.content,
              caption: input.caption,
              targetNumbers: input.targetNumbers,
              backgroundColor: input.backgroundColor,
              font: input.font,
              uploadId: input.upload,
              idempotencyKey: idempotencyKey ?? null,
              requestHash: idempotencyKey === undefined ? null : hash,
              state: 'pending'
            }
          }),
          // A used upload no longer expires on its own; the retention sweep removes it with its statuses.
          ...(input.upload === null
            ? []
            : [prisma.upload.update({ where: { id: input.upload }, data: { lastUsedAt: now, expiresAt: null } })])
        ])
      } catch (err) {
        if (idempotencyKey !== undefined && isUniqueViolation(err)) {
          // A concurrent request with the same key won the insert.
          const earlier = await byKey(sessionId, idempotencyKey)
          if (earlier !== null) return await replay(view, earlier, hash)
        }
        throw err
      }

      return await dispatch({ ...created, _count: { viewers: 0 } }, owner)
    },

    /** Statuses of the last 24 hours (by sentAt, else createdAt), newest first. */
    async list (sessionId: string, page: Page | null): Promise<{ items: Status[], nextCursor?: string | null }> {
      const since = new Date(Date.now() - DAY_MS)
      const after = page?.after ?? null
      const recent = { OR: [{ sentAt: { gte: since } }, { sentAt: null, createdAt: { gte: since } }] }
      const before = after === null
        ? []
        : (() => {
            const createdAt = cursorDate(after, 0)
            const id = cursorString(after, 1)
            if (!UUID.test(id)) throw fieldError('querystring.cursor', 'is not a cursor this list handed out')
            return [{ OR: [{ createdAt: { lt: createdAt } }, { createdAt, id: { lt: id } }] }]
          })()
      const rows = await prisma.status.findMany({
        where: { sessionId, AND: [recent, ...before] },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        ...(page === null ? {} : { take: page.take + 1 })
      })
      if (rows.length === 0) await sessions.load(sessionId)
      if (page === null) return { items: (await withCounts(rows)).map(asStatus) }
      const { items, nextCursor } = paginate(rows, page.take, r => [r.createdAt.toISOString(), r.id])
      return { items: (await withCounts(items)).map(asStatus), nextCursor }
    },

    async get (sessionId: string, statusId: string): Promise<Status> {
      return asStatus(await findInSession(sessionId, statusId))
    },

    /** Who viewed a status, oldest view first. */
    async viewers (sessionId: string, statusId: string, page: Page | null): Promise<{ items: Viewer[], nextCursor?: string | null }> {
      await findInSession(sessionId, statusId)
      const after = page?.after ?? null
      const where = after === null
        ? { statusId }
        : (() => {
            const viewedAt = cursorDate(after, 0)
            const viewerNumber = cursorString(after, 1)
            return { statusId, OR: [{ viewedAt: { gt: viewedAt } }, { viewedAt, viewerNumber: { gt: viewerNumber } }] }
          })()
      const rows = await prisma.statusViewer.findMany({
        where,
        orderBy: [{ viewedAt: 'asc' }, { viewerNumber: 'asc' }],
        select: { viewerNumber: true, viewedAt: true },
        ...(page === null ? {} : { take: page.take + 1 })
      })
      const toViewer = (r: { viewerNumber: string, viewedAt: Date }): Viewer => ({ viewerNumber: r.viewerNumber, viewedAt: r.viewedAt.toISOString() })
      if (page === null) return { items: rows.map(toViewer) }
      const { items, nextCursor } = paginate(rows, page.take, r => [r.viewedAt.toISOString(), r.viewerNumber])
      return { items: items.map(toViewer), nextCursor }
    },

    /** Revokes the status on WhatsApp (through the owner), which marks it deleted. Deleting twice is a no-op. */
    async remove (sessionId: string, statusId: string): Promise<Status> {
      const row = await findInSession(sessionId, statusId)
      const view = await sessions.load(sessionId)
      if (row.state === 'deleted') return asStatus(row)
      if (!isConnected(view) || view.owner === null) {
        throw new AppError('SESSION_NOT_CONNECTED', `Session ${sessionId} is not connected: a status can only be revoked while it is`)
      }
      return await commands.send(CommandName.DeleteStatus, { sessionId, statusId }, { target: view.owner.workerId })
    }
  }
}

export type StatusesService = ReturnType<typeof createStatusesService>

declare module 'fastify' {
  interface FastifyInstance {
    statuses: StatusesService
  }
}

export default fp(async function statuses (fastify) {
  fastify.decorate('statuses', createStatusesService({
    prisma: fastify.prisma,
    sessions: fastify.sessions,
    commands: fastify.commands,
    sendTimeoutMs: fastify.config.SEND_TIMEOUT_MS,
    maxAudience: fastify.config.MAX_AUDIENCE,
    log: fastify.log.child({ service: 'statuses' })
  }))
}, { name: 'statuses', dependencies: ['sessions', 'command-bus'] })
