import { Prisma, type PrismaClient } from '@wss/db'
import type { SessionsService } from '../sessions.ts'
import { cursorDate, cursorString, paginate, readPage, type Page } from '../../../lib/cursor.ts'
import { fieldError } from '../../../lib/validation.ts'
import { UUID } from '../statuses/status-rows.ts'

export interface SessionViewer { statusId: string, viewerNumber: string, viewedAt: string }
interface Row { status_id: string, viewer_number: string, viewed_at: Date }

const toViewer = (r: Row): SessionViewer => ({ statusId: r.status_id, viewerNumber: r.viewer_number, viewedAt: r.viewed_at.toISOString() })

// Keyset: rows after the cursor's (viewedAt, statusId, viewerNumber).
function afterKey (after: unknown[] | null): Prisma.Sql {
  if (after === null) return Prisma.empty
  const viewedAt = cursorDate(after, 0)
  const statusId = cursorString(after, 1)
  const viewerNumber = cursorString(after, 2)
  if (!UUID.test(statusId)) throw fieldError('querystring.cursor', 'is not a cursor this list handed out')
  return Prisma.sql`AND (viewed_at, status_id, viewer_number) > (${viewedAt}, ${statusId}::uuid, ${viewerNumber})`
}

/**
 * One page of a session's viewers whose view falls in [from, to), oldest first (viewedAt,
 * statusId, viewerNumber): the session's (session_id, viewed_at) index, one range per page.
 */
export async function sessionViewersPage (
  deps: { prisma: PrismaClient, sessions: SessionsService }, sessionId: string, from: Date, to: Date, page: Page
): Promise<{ items: SessionViewer[], nextCursor: string | null }> {
  const rows = await deps.prisma.$queryRaw<Row[]>`SELECT status_id::text, viewer_number, viewed_at FROM status_viewers
    WHERE session_id = ${sessionId} AND viewed_at >= ${from} AND viewed_at < ${to} ${afterKey(page.after)}
    ORDER BY viewed_at, status_id, viewer_number LIMIT ${page.take + 1}`
  if (rows.length === 0 && page.after === null) await deps.sessions.load(sessionId)
  const { items, nextCursor } = paginate(rows, page.take, r => [r.viewed_at.toISOString(), r.status_id, r.viewer_number])
  return { items: items.map(toViewer), nextCursor }
}

/** Every page of a list, fetched one after the other (constant memory for an export). */
export async function * allPages<T> (fetch: (page: Page) => Promise<{ items: T[], nextCursor?: string | null }>, take = 1000): AsyncGenerator<T[]> {
  let after: unknown[] | null = null
  for (;;) {
    const { items, nextCursor } = await fetch({ take, after })
    yield items
    if (nextCursor === null || nextCursor === undefined) return
    after = readPage({ cursor: nextCursor })!.after
  }
}
