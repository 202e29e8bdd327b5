import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { Prisma, type PrismaClient, type Status as StatusRow } from '@wss/db'
import { AppError, type AudienceSpec } from '@wss/shared'
import type { CommandBus } from '../command-bus.ts'
import { mayUseUpload, type KeyScope } from '../../../lib/key-scope.ts'
import type { ValidSend } from '../../../lib/send-request.ts'
import { audienceListNotFound } from '../audience-lists.ts'

/** The upload a send names exists, is of its type, has not expired, and is the key's to post. */
export async function requireUpload (prisma: PrismaClient, input: ValidSend, scope: KeyScope): Promise<void> {
  if (input.upload === null) return
  const upload = await prisma.upload.findUnique({ where: { id: input.upload }, select: { kind: true, expiresAt: true, ownerKeyId: true } })
  const expired = upload?.expiresAt != null && upload.expiresAt.getTime() <= Date.now()
  // Another key's upload is as missing as an unknown one.
  if (upload === null || upload.kind !== input.type || expired || !mayUseUpload(scope, upload.ownerKeyId)) {
    throw new AppError('FILE_NOT_FOUND', `File ${input.upload} not found among the uploaded ${input.type}s`)
  }
}

/**
 * A `list` audience names a list of the session (404 `AUDIENCE_LIST_NOT_FOUND` otherwise). Checked
 * when the status is requested; the worker reads the list again when it sends.
 */
export async function requireList (prisma: PrismaClient, sessionId: string, audience: AudienceSpec | null): Promise<void> {
  if (audience?.type !== 'list' || audience.id === undefined) return
  const list = await prisma.audienceList.findFirst({ where: { id: audience.id, sessionId }, select: { id: true } })
  if (list === null) throw audienceListNotFound(sessionId, audience.id)
}

/** Options of the transactions that lock a list row: they may wait for another one holding it. */
export const LOCKING_TX = { maxWait: 10_000, timeout: 15_000 }

/**
 * Inside a transaction that writes a status with a `list` audience: takes a share lock on the list
 * row (404 `AUDIENCE_LIST_NOT_FOUND` when it is gone), so a delete of the list waits for the status
 * and then sees it in use, or runs first and the status is refused.
 */
export async function lockList (tx: Prisma.TransactionClient, sessionId: string, audience: AudienceSpec | null): Promise<void> {
  if (audience?.type !== 'list' || audience.id === undefined) return
  const rows = await tx.$queryRaw<Array<{ id: string }>>`SELECT id::text FROM audience_lists WHERE id = ${audience.id}::uuid AND session_id = ${sessionId} FOR SHARE`
  if (rows.length === 0) throw audienceListNotFound(sessionId, audience.id)
}

/** The value of `statuses.audience_spec` for a requested audience (SQL NULL when there is none). */
export const audienceColumn = (audience: AudienceSpec | null) => audience === null ? Prisma.DbNull : audience

/** The columns of a new status row (pending, or scheduled when it has a time). */
export function statusData (sessionId: string, input: ValidSend, idempotencyKey: string | undefined, hash: string) {
  return {
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
    state: input.scheduledAt === null ? 'pending' as const : 'scheduled' as const,
    scheduledAt: input.scheduledAt,
    audienceSpec: audienceColumn(input.audience)
  }
}

/** Marks the upload a send uses as used: it no longer expires on its own; the retention sweep removes it with its statuses. */
export const markUploadUsed = (prisma: Prisma.TransactionClient, upload: string | null) =>
  upload === null ? [] : [prisma.upload.update({ where: { id: upload }, data: { lastUsedAt: new Date(), expiresAt: null } })]

// The row, and the upload it uses marked used, in one transaction (its list share-locked, {@link lockList}).
export async function insertStatus (prisma: PrismaClient, sessionId: string, input: ValidSend, idempotencyKey: string | undefined, hash: string): Promise<StatusRow> {
  if (input.audience?.type !== 'list') {
    const [created] = await prisma.$transaction([
      prisma.status.create({ data: statusData(sessionId, input, idempotencyKey, hash) }),
      ...markUploadUsed(prisma, input.upload)
    ])
    return created
  }
  return await prisma.$transaction(async tx => {
    await lockList(tx, sessionId, input.audience)
    const created = await tx.status.create({ data: statusData(sessionId, input, idempotencyKey, hash) })
    await Promise.all(markUploadUsed(tx, input.upload))
    return created
  }, LOCKING_TX)
}

/**
 * Queues the delayed job of the row's current version. When Redis refuses it, `undo` runs and the
 * error is answered (503): nothing was promised. A job lost later (Redis flushed) is queued again by
 * the workers' maintenance sweep, from the row.
 */
export async function queueSchedule (
  deps: { commands: CommandBus, now: () => number, log: FastifyBaseLogger },
  row: StatusRow,
  at: Date,
  undo: () => Promise<unknown>
): Promise<void> {
  try {
    await deps.commands.schedule({ sessionId: row.sessionId, statusId: row.id, version: row.scheduleVersion }, at.getTime() - deps.now())
  } catch (err) {
    await undo().catch((e: unknown) => deps.log.warn({ err: e, statusId: row.id }, 'scheduled status left for the maintenance sweep'))
    throw err
  }
}
