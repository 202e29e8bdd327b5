import type { FastifyBaseLogger } from 'fastify'
import type { PrismaClient, Status as StatusRow } from '@wss/db'
import { AppError, CommandName, failedStatusCode, isAppError, parseAudienceSpec, sendStatusJobId as sendJobId, type Status } from '@wss/shared'
import type { CommandBus } from '../command-bus.ts'
import type { PublishEvent } from '../event-publisher.ts'
import { isConnected, type SessionsService, type SessionView } from '../sessions.ts'
import type { PatchStatusBody, SendStatusBody } from '../../../schemas/statuses.ts'
import { isUniqueViolation } from '../../../lib/db-errors.ts'
import type { KeyScope } from '../../../lib/key-scope.ts'
import { checkScheduleTime, requestHash, validateSend, type ValidSend } from '../../../lib/send-request.ts'
import { asStatus, byKey, findInSession, type StatusWithCount } from './status-rows.ts'
import { audienceColumn, insertStatus, LOCKING_TX, lockList, queueSchedule, requireList, requireUpload } from './status-writes.ts'

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
  /** At most this many numbers in `targetNumbers` and `audience.except`. */
  maxAudience: number
  /** Events the API raises itself (`status-cancelled`). */
  publish: PublishEvent
  /** The clock schedule times are checked against. */
  now: () => number
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
    // Refusals the status was failed for: the caller learns which status it was.
    if (err.code === 'WHATSAPP_REFUSED' || err.code === 'AUDIENCE_TOO_LARGE' || err.code === 'AUDIENCE_LIST_NOT_FOUND') {
      throw new AppError(err.code, err.message, { statusId: row.id })
    }
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
    throw new AppError(failedStatusCode(row.error), row.error ?? 'WhatsApp refused the status', { statusId: row.id })
  }
  // Answered as the first request was (202): the status waits for its time, or was cancelled since.
  if (row.state === 'scheduled' || row.state === 'cancelled') return { status: asStatus(row), statusCode: 202, replayed: true }
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
  if (input.scheduledAt !== null) {
    // A scheduled status waits whatever the session's connection now: it is checked when due.
    const at = checkScheduleTime(input.scheduledAt, deps.now())
    await requireUpload(deps.prisma, input, scope)
    await requireList(deps.prisma, sessionId, input.audience)
    const created = await insertOrReplay(deps, sessionId, view, input, idempotencyKey, hash)
    if ('statusCode' in created) return created
    await queueSchedule(deps, created, at, () => deps.prisma.status.deleteMany({ where: { id: created.id, state: 'scheduled' } }))
    deps.log.info({ sessionId, statusId: created.id, scheduledAt: at.toISOString() }, 'status scheduled')
    return { status: asStatus({ ...created, _count: { viewers: 0 } }), statusCode: 202, replayed: false }
  }
  const owner = connectedOwner(view, sessionId)
  await requireUpload(deps.prisma, input, scope)
  await requireList(deps.prisma, sessionId, input.audience)
  const created = await insertOrReplay(deps, sessionId, view, input, idempotencyKey, hash)
  if ('statusCode' in created) return created
  return await dispatch(deps, { ...created, _count: { viewers: 0 } }, owner)
}

// The new row, or the answer to a concurrent request with the same key that won the insert.
async function insertOrReplay (deps: StatusActionsDeps, sessionId: string, view: SessionView, input: ValidSend, idempotencyKey: string | undefined, hash: string): Promise<StatusRow | SendResult> {
  try {
    return await insertStatus(deps.prisma, sessionId, input, idempotencyKey, hash)
  } catch (err) {
    if (idempotencyKey !== undefined && isUniqueViolation(err)) {
      const earlier = await byKey(deps.prisma, sessionId, idempotencyKey)
      if (earlier !== null) return await replay(deps, view, earlier, hash)
    }
    throw err
  }
}

const notScheduled = (row: StatusRow) =>
  new AppError('STATUS_NOT_SCHEDULED', `Status ${row.id} is ${row.state}: only a scheduled status can be changed`, { statusId: row.id, state: row.state })

/** The merged request a PATCH makes of a scheduled status: the row's fields, overridden by the body's. */
function patched (row: StatusRow, body: PatchStatusBody): SendStatusBody {
  const keep = <T>(given: T | null | undefined, stored: T | null): T | undefined => given === undefined ? (stored ?? undefined) : (given ?? undefined)
  const caption = keep(body.caption, row.caption)
  const backgroundColor = keep(body.backgroundColor, row.backgroundColor)
  const font = keep(body.font, row.font)
  const audience = body.audience === undefined ? parseAudienceSpec(row.audienceSpec) : body.audience
  return {
    type: row.type,
    content: body.content ?? row.content,
    targetNumbers: body.targetNumbers ?? row.targetNumbers,
    ...(caption === undefined ? {} : { caption }),
    ...(backgroundColor === undefined ? {} : { backgroundColor }),
    ...(font === undefined ? {} : { font }),
    ...(audience === null ? {} : { audience }),
    ...(body.scheduledAt === undefined ? {} : { scheduledAt: body.scheduledAt })
  }
}

/**
 * Changes the time or content of a scheduled status (409 `STATUS_NOT_SCHEDULED` once it is not).
 * The update is conditional on the row still being scheduled (and, for a new time, on the version
 * read), so it cannot race the job firing; a new time bumps the version and queues a new job, and the
 * old one, finding its version stale, does nothing.
 */
export async function patchStatus (deps: StatusActionsDeps, sessionId: string, statusId: string, body: PatchStatusBody, scope: KeyScope): Promise<Status> {
  for (let attempt = 0; ; attempt++) {
    const row = await findInSession(deps, sessionId, statusId)
    if (row.state !== 'scheduled' || row.scheduledAt === null) throw notScheduled(row)
    const input = validateSend(patched(row, body), deps.maxAudience)
    const at = input.scheduledAt === null ? row.scheduledAt : checkScheduleTime(input.scheduledAt, deps.now())
    if (input.upload !== row.uploadId) await requireUpload(deps.prisma, input, scope)
    if (body.audience !== undefined) await requireList(deps.prisma, sessionId, input.audience)
    const moved = at.getTime() !== row.scheduledAt.getTime()
    const version = moved ? row.scheduleVersion + 1 : row.scheduleVersion
    // A new list audience is written with its list share-locked (lockList), as a new status is.
    const { count } = await deps.prisma.$transaction(async tx => {
      if (body.audience !== undefined) await lockList(tx, sessionId, input.audience)
      return await tx.status.updateMany({
        where: { id: row.id, state: 'scheduled', scheduleVersion: row.scheduleVersion },
        data: {
          content: input.content,
          caption: input.caption,
          targetNumbers: input.targetNumbers,
          backgroundColor: input.backgroundColor,
          font: input.font,
          uploadId: input.upload,
          audienceSpec: audienceColumn(input.audience),
          scheduledAt: at,
          scheduleVersion: version
        }
      })
    }, LOCKING_TX)
    if (count === 0) {
      // It fired, was cancelled, or another edit moved it meanwhile: read it again.
      if (attempt < 2) continue
      throw notScheduled(await findInSession(deps, sessionId, statusId))
    }
    if (input.upload !== null && input.upload !== row.uploadId) {
      await deps.prisma.upload.update({ where: { id: input.upload }, data: { lastUsedAt: new Date(), expiresAt: null } })
    }
    const updated = await findInSession(deps, sessionId, statusId)
    // A new time whose job cannot be queued (Redis down): the edit is undone, the old job still
    // stands, and the caller gets 503 with the status as it was.
    if (moved) {
      await queueSchedule(deps, updated, at, () => deps.prisma.status.updateMany({
        where: { id: row.id, state: 'scheduled', scheduleVersion: version },
        data: {
          content: row.content,
          caption: row.caption,
          targetNumbers: row.targetNumbers,
          backgroundColor: row.backgroundColor,
          font: row.font,
          uploadId: row.uploadId,
          audienceSpec: audienceColumn(parseAudienceSpec(row.audienceSpec)),
          scheduledAt: row.scheduledAt,
          scheduleVersion: row.scheduleVersion
        }
      }))
    }
    deps.log.info({ sessionId, statusId, scheduledAt: at.toISOString(), version }, 'scheduled status changed')
    return asStatus(updated)
  }
}

/** Cancels a scheduled status (conditional on it still being scheduled); null when it is not scheduled. */
async function cancel (deps: StatusActionsDeps, row: StatusWithCount): Promise<Status | null> {
  if (row.state === 'cancelled') return asStatus(row)
  if (row.state !== 'scheduled') return null
  const { count } = await deps.prisma.status.updateMany({ where: { id: row.id, state: 'scheduled' }, data: { state: 'cancelled' } })
  if (count === 0) return null
  await deps.publish('status-cancelled', { sessionId: row.sessionId, id: row.id })
  await deps.publish('statuses-updated', { sessionId: row.sessionId })
  deps.log.info({ sessionId: row.sessionId, statusId: row.id }, 'scheduled status cancelled')
  return asStatus({ ...row, state: 'cancelled' })
}

/**
 * Cancels a scheduled status; revokes any other on WhatsApp (through the owner), which marks it
 * deleted. Deleting twice is a no-op.
 */
export async function removeStatus (deps: StatusActionsDeps, sessionId: string, statusId: string): Promise<Status> {
  let row = await findInSession(deps, sessionId, statusId)
  if (row.state === 'scheduled' || row.state === 'cancelled') {
    const cancelled = await cancel(deps, row)
    if (cancelled !== null) return cancelled
    // It fired meanwhile: revoked like any status.
    row = await findInSession(deps, sessionId, statusId)
  }
  const view = await deps.sessions.load(sessionId)
  if (row.state === 'deleted') return asStatus(row)
  const owner = connectedOwner(view, sessionId, ': a status can only be revoked while it is')
  return await deps.commands.send(CommandName.DeleteStatus, { sessionId, statusId }, { target: owner })
}
