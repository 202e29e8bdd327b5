import type { PrismaClient } from '@wss/db'
import { AppError, type OwnerRegistry, type Session } from '@wss/shared'
import type { PairingCode } from '../../../schemas/sessions.ts'
import { afterCreatedAt, paginate, type Page } from '../../../lib/cursor.ts'
import { ADMIN_SCOPE, sessionsWhere, type KeyScope } from '../../../lib/key-scope.ts'
import { notFound, toSession, type SessionView } from './session-view.ts'

export interface SessionReadsDeps {
  prisma: PrismaClient
  owners: OwnerRegistry
}

/** Reads of session rows joined with their owner records. */
export function createSessionReads ({ prisma, owners }: SessionReadsDeps) {
  async function find (sessionId: string): Promise<SessionView | null> {
    const [row, owner] = await Promise.all([
      prisma.session.findUnique({ where: { id: sessionId } }),
      owners.owner(sessionId)
    ])
    return row === null ? null : { row, owner }
  }

  async function load (sessionId: string): Promise<SessionView> {
    const view = await find(sessionId)
    if (view === null) throw notFound(sessionId)
    return view
  }

  async function exists (sessionId: string): Promise<void> {
    const row = await prisma.session.findUnique({ where: { id: sessionId }, select: { id: true } })
    if (row === null) throw notFound(sessionId)
  }

  /** Sessions oldest first (those the key sees); whole, or one page with its cursor. */
  async function list (page: Page | null, scope: KeyScope = ADMIN_SCOPE): Promise<{ items: Session[], nextCursor?: string | null }> {
    const where = afterCreatedAt(page?.after ?? null)
    const inScope = sessionsWhere(scope)
    const rows = await prisma.session.findMany({
      where: inScope === undefined ? where : { AND: [where, inScope] },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      ...(page === null ? {} : { take: page.take + 1 })
    })
    const { items, nextCursor } = page === null
      ? { items: rows, nextCursor: undefined }
      : paginate(rows, page.take, r => [r.createdAt.toISOString(), r.id])
    const ownerMap = await owners.owners(items.map(r => r.id))
    const sessions = items.map(row => toSession({ row, owner: ownerMap.get(row.id) ?? null }))
    return nextCursor === undefined ? { items: sessions } : { items: sessions, nextCursor }
  }

  /**
   * Session rows with their owner records in two reads, whatever their number: the given ids, or
   * without ids every session the key sees; oldest first.
   */
  async function views (scope: KeyScope, ids?: string[]): Promise<SessionView[]> {
    const where = ids === undefined ? (sessionsWhere(scope) ?? {}) : { id: { in: ids } }
    const rows = await prisma.session.findMany({ where, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] })
    const ownerMap = await owners.owners(rows.map(r => r.id))
    return rows.map(row => ({ row, owner: ownerMap.get(row.id) ?? null }))
  }

  return { find, load, exists, list, views }
}

export type SessionReads = ReturnType<typeof createSessionReads>

/** The pairing code shown now, if any. */
export async function readPairingCode (reads: SessionReads, sessionId: string): Promise<PairingCode> {
  const { row } = await reads.load(sessionId)
  if (row.pairingCode === null || row.state === 'connected') {
    throw new AppError('PAIRING_CODE_NOT_FOUND', `Session ${sessionId} has no pairing code right now`)
  }
  return { sessionId, pairingCode: row.pairingCode, phoneNumber: row.phoneNumber }
}
