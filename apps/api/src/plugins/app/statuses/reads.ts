import type { PrismaClient } from '@wss/db'
import type { Status, StatusState, Viewer } from '@wss/shared'
import type { SessionsService } from '../sessions.ts'
import { fieldError } from '../../../lib/validation.ts'
import { cursorDate, cursorString, paginate, type Page } from '../../../lib/cursor.ts'
import { UUID, asStatus, findInSession, withCounts } from './status-rows.ts'

const DAY_MS = 24 * 60 * 60 * 1000

export interface StatusReadsDeps { prisma: PrismaClient, sessions: SessionsService }

// Keyset condition: statuses before the cursor's (createdAt, id), newest first.
function beforeCursor (after: Page['after'] | null) {
  if (after === null) return []
  const createdAt = cursorDate(after, 0)
  const id = cursorString(after, 1)
  if (!UUID.test(id)) throw fieldError('querystring.cursor', 'is not a cursor this list handed out')
  return [{ OR: [{ createdAt: { lt: createdAt } }, { createdAt, id: { lt: id } }] }]
}

// Keyset condition: scheduled statuses after the cursor's (scheduledAt, id), soonest first.
function afterScheduleCursor (after: Page['after'] | null) {
  if (after === null) return []
  const scheduledAt = cursorDate(after, 0)
  const id = cursorString(after, 1)
  if (!UUID.test(id)) throw fieldError('querystring.cursor', 'is not a cursor this list handed out')
  return [{ OR: [{ scheduledAt: { gt: scheduledAt } }, { scheduledAt, id: { gt: id } }] }]
}

// Every scheduled status, whatever its age (up to 30 days ahead), soonest first.
async function listScheduled (deps: StatusReadsDeps, sessionId: string, page: Page | null): Promise<{ items: Status[], nextCursor?: string | null }> {
  const { prisma } = deps
  const rows = await prisma.status.findMany({
    where: { sessionId, state: 'scheduled', AND: afterScheduleCursor(page?.after ?? null) },
    orderBy: [{ scheduledAt: 'asc' }, { id: 'asc' }],
    ...(page === null ? {} : { take: page.take + 1 })
  })
  if (rows.length === 0) await deps.sessions.load(sessionId)
  // Nothing scheduled has been viewed.
  const asListed = (r: (typeof rows)[number]) => asStatus({ ...r, _count: { viewers: 0 } })
  if (page === null) return { items: rows.map(asListed) }
  const { items, nextCursor } = paginate(rows, page.take, r => [r.scheduledAt!.toISOString(), r.id])
  return { items: items.map(asListed), nextCursor }
}

/**
 * Statuses of the last 24 hours (by sentAt, else createdAt), newest first. Without `state`, scheduled
 * and cancelled ones are left out (what v2 clients list); `state=scheduled` lists every scheduled one.
 */
export async function listStatuses (deps: StatusReadsDeps, sessionId: string, page: Page | null, state?: StatusState): Promise<{ items: Status[], nextCursor?: string | null }> {
  if (state === 'scheduled') return await listScheduled(deps, sessionId, page)
  const { prisma } = deps
  const since = new Date(Date.now() - DAY_MS)
  const recent = { OR: [{ sentAt: { gte: since } }, { sentAt: null, createdAt: { gte: since } }] }
  const before = beforeCursor(page?.after ?? null)
  const rows = await prisma.status.findMany({
    where: { sessionId, state: state ?? { notIn: ['scheduled', 'cancelled'] }, AND: [recent, ...before] },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    ...(page === null ? {} : { take: page.take + 1 })
  })
  if (rows.length === 0) await deps.sessions.load(sessionId)
  if (page === null) return { items: (await withCounts(prisma, rows)).map(asStatus) }
  const { items, nextCursor } = paginate(rows, page.take, r => [r.createdAt.toISOString(), r.id])
  return { items: (await withCounts(prisma, items)).map(asStatus), nextCursor }
}

// Keyset condition: views after the cursor's (viewedAt, viewerNumber).
function viewersWhere (statusId: string, after: Page['after'] | null) {
  if (after === null) return { statusId }
  const viewedAt = cursorDate(after, 0)
  const viewerNumber = cursorString(after, 1)
  return { statusId, OR: [{ viewedAt: { gt: viewedAt } }, { viewedAt, viewerNumber: { gt: viewerNumber } }] }
}

const toViewer = (r: { viewerNumber: string, viewedAt: Date }): Viewer => ({ viewerNumber: r.viewerNumber, viewedAt: r.viewedAt.toISOString() })

/** Who viewed a status, oldest view first. */
export async function listViewers (deps: StatusReadsDeps, sessionId: string, statusId: string, page: Page | null): Promise<{ items: Viewer[], nextCursor?: string | null }> {
  await findInSession(deps, sessionId, statusId)
  const rows = await deps.prisma.statusViewer.findMany({
    where: viewersWhere(statusId, page?.after ?? null),
    orderBy: [{ viewedAt: 'asc' }, { viewerNumber: 'asc' }],
    select: { viewerNumber: true, viewedAt: true },
    ...(page === null ? {} : { take: page.take + 1 })
  })
  if (page === null) return { items: rows.map(toViewer) }
  const { items, nextCursor } = paginate(rows, page.take, r => [r.viewedAt.toISOString(), r.viewerNumber])
  return { items: items.map(toViewer), nextCursor }
}
