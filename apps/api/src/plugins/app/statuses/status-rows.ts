import type { PrismaClient, Status as StatusRow } from '@wss/db'
import { AppError, toStatus, type Status } from '@wss/shared'
import type { SessionsService } from '../sessions.ts'

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export type StatusWithCount = StatusRow & { _count: { viewers: number } }

export const asStatus = (row: StatusWithCount): Status => toStatus(row, row._count.viewers)

// Prisma's relation `_count` aggregates the whole viewers table before joining; a grouped
// count over these statuses' ids uses the (status_id, viewed_at) index instead.
export async function withCounts (prisma: PrismaClient, rows: StatusRow[]): Promise<StatusWithCount[]> {
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
export async function findInSession (
  deps: { prisma: PrismaClient, sessions: SessionsService },
  sessionId: string,
  statusId: string
): Promise<StatusWithCount> {
  const row = UUID.test(statusId)
    ? await deps.prisma.status.findFirst({ where: { id: statusId, sessionId } })
    : null
  if (row !== null) return (await withCounts(deps.prisma, [row]))[0]!
  await deps.sessions.load(sessionId)
  throw new AppError('STATUS_NOT_FOUND', `Status ${statusId} not found in session ${sessionId}`)
}

/** The status an earlier request with this Idempotency-Key created, if any. */
export async function byKey (prisma: PrismaClient, sessionId: string, idempotencyKey: string): Promise<StatusWithCount | null> {
  const row = await prisma.status.findUnique({ where: { sessionId_idempotencyKey: { sessionId, idempotencyKey } } })
  return row === null ? null : (await withCounts(prisma, [row]))[0]!
}
