import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { PrismaClient, Status as StatusRow } from '@wss/db'
import { AppError, CommandName, isAppError, type Status } from '@wss/shared'
import type { CommandBus } from '../command-bus.ts'
import { isConnected, type SessionsService, type SessionView } from '../sessions.ts'
import type { SendStatusBody } from '../../../schemas/statuses.ts'
import { isUniqueViolation } from '../../../lib/db-errors.ts'
import { mayUseUpload, type KeyScope } from '../../../lib/key-scope.ts'
import { requestHash, validateSend, type ValidSend } from '../../../lib/send-request.ts'
import { asStatus, byKey, findInSession, type StatusWithCount } from './status-rows.ts'

/** The job id of a status's send: BullMQ ignores a second one while the first is queued. */
const sendJobId = (statusId: string) => `send-status-${statusId}`

export interface SendResult {
  status: Status
  /** 201 once acknowledged (or already final), 202 while pending. */
  statusCode: 201 | 202
  /** True when an `Idempotency-Key` matched an earlier request. */
  replayed: boolean
}

export interface StatusActionsDeps {
  prisma: PrismaClient
  sessions: SessionsService
  commands: CommandBus
  sendTimeoutMs: number
  /** At most this many numbers in `targetNumbers`. */
  maxAudience: number
  log: FastifyBaseLogger
}

/**
 * Enqueues the send to `target` and waits for the ack: the status as the worker answers it (201),
 * or as stored while it is still pending (202, when the worker has not answered in time).
 */
async function dispatch (deps: StatusActionsDeps, row: StatusWithCount, target: string): Promise<SendResult> {
  try {
    const status = await deps.commands.send(CommandName.SendStatus, { sessionId: row.sessionId, statusId: row.id }, {
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
async function replay (deps: StatusActionsDeps, view: SessionView, row: StatusWithCount, hash: string): Promise<SendResult> {
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
    await deps.commands.enqueue(CommandName.SendStatus, { sessionId: row.sessionId, statusId: row.id }, { jobId: sendJobId(row.id), ...(target === undefined ? {} : { target }) })
    deps.log.info({ sessionId: row.sessionId, statusId: row.id }, 'pending status queued again on a retried request')
  } catch (err) {
    // No worker is alive: the status waits, as its first job does.
    if (!isAppError(err) || err.code !== 'NO_WORKER') throw err
  }
  return { status: asStatus(row), statusCode: 202, replayed: true }
}

// The owner to send through, which only a connected session has.
function connectedOwner (view: SessionView, sessionId: string, why = ''): string {
  if (!isConnected(view) || view.owner === null) {
    throw new AppError('SESSION_NOT_CONNECTED', `Session ${sessionId} is not connected${why}`)
  }
  return view.owner.workerId
}

async function requireUpload (prisma: PrismaClient, input: ValidSend, scope: KeyScope): Promise<void> {
  if (input.upload === null) return
  const upload = await prisma.upload.findUnique({ where: { id: input.upload }, select: { kind: true, expiresAt: true, ownerKeyId: true } })
  const expired = upload?.expiresAt != null && upload.expiresAt.getTime() <= Date.now()
  // Another key's upload is as missing as an unknown one.
  if (upload === null || upload.kind !== input.type || expired || !mayUseUpload(scope, upload.ownerKeyId)) {
    throw new AppError('FILE_NOT_FOUND', `File ${input.upload} not found among the uploaded ${input.type}s`)
  }
}

// The pending row, and the upload it uses marked used, in one transaction.
async function insertStatus (prisma: PrismaClient, sessionId: string, input: ValidSend, idempotencyKey: string | undefined, hash: string): Promise<StatusRow> {
  const now = new Date()
  const [created] = await prisma.$transaction([
    prisma.status.create({
      data: {
        id: randomUUID(),
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
  return created
}

/**
 * Validates, stores the status (pending) and asks the owner to send it. 201 once WhatsApp
 * acknowledged it, 202 while pending past `sendTimeoutMs`, 502 when WhatsApp refused it.
 */
export async function sendStatus (deps: StatusActionsDeps, sessionId: string, body: SendStatusBody, idempotencyKey: string | undefined, scope: KeyScope): Promise<SendResult> {
  const input = validateSend(body, deps.maxAudience)
  const hash = requestHash(input)
  const view = await deps.sessions.load(sessionId)
  if (idempotencyKey !== undefined) {
    const earlier = await byKey(deps.prisma, sessionId, idempotencyKey)
    if (earlier !== null) return await replay(deps, view, earlier, hash)
  }
  const owner = connectedOwner(view, sessionId)
  await requireUpload(deps.prisma, input, scope)
  let created: StatusRow
  try {
    created = await insertStatus(deps.prisma, sessionId, input, idempotencyKey, hash)
  } catch (err) {
    if (idempotencyKey !== undefined && isUniqueViolation(err)) {
      // A concurrent request with the same key won the insert.
      const earlier = await byKey(deps.prisma, sessionId, idempotencyKey)
      if (earlier !== null) return await replay(deps, view, earlier, hash)
    }
    throw err
  }
  return await dispatch(deps, { ...created, _count: { viewers: 0 } }, owner)
}

/** Revokes the status on WhatsApp (through the owner), which marks it deleted. Deleting twice is a no-op. */
export async function removeStatus (deps: StatusActionsDeps, sessionId: string, statusId: string): Promise<Status> {
  const row = await findInSession(deps, sessionId, statusId)
  const view = await deps.sessions.load(sessionId)
  if (row.state === 'deleted') return asStatus(row)
  const owner = connectedOwner(view, sessionId, ': a status can only be revoked while it is')
  return await deps.commands.send(CommandName.DeleteStatus, { sessionId, statusId }, { target: owner })
}
