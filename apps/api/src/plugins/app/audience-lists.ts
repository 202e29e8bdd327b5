import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import type { AudienceList, Prisma, PrismaClient } from '@wss/db'
import { AppError } from '@wss/shared'
import type { SessionsService } from './sessions.ts'
import type { AudienceListView, CreateAudienceListBody, UpdateAudienceListBody } from '../../schemas/audiences.ts'
import { afterCreatedAt, paginate, type Page } from '../../lib/cursor.ts'
import { isUniqueViolation } from '../../lib/db-errors.ts'
import { phoneNumbers } from '../../lib/send-request.ts'
import { fieldError } from '../../lib/validation.ts'
import { UUID } from './statuses/status-rows.ts'
import { LOCKING_TX } from './statuses/status-writes.ts'

export interface AudienceListsDeps {
  prisma: PrismaClient
  sessions: Pick<SessionsService, 'load'>
  /** At most this many numbers in a list. */
  maxAudience: number
  log: FastifyBaseLogger
}

/** The 404 of a list that is not in the session (or not a list id at all). */
export const audienceListNotFound = (sessionId: string, listId: string) =>
  new AppError('AUDIENCE_LIST_NOT_FOUND', `Audience list ${listId.slice(0, 128)} not found in session ${sessionId}`, { sessionId, listId: listId.slice(0, 128) })

const toView = (row: AudienceList): AudienceListView => ({
  id: row.id,
  sessionId: row.sessionId,
  name: row.name,
  numbers: row.numbers,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString()
})

function checkName (name: string): string {
  const trimmed = name.trim()
  if (trimmed === '') throw fieldError('body.name', 'must not be blank')
  return trimmed
}

const nameTaken = (sessionId: string, name: string) =>
  new AppError('AUDIENCE_LIST_EXISTS', `Session ${sessionId} already has an audience list named "${name}"`, [{ field: 'body.name', message: 'is taken in this session' }])

/**
 * The scheduled and pending statuses of the session that name the list: they resolve it when they
 * are sent, so the list may not go before they do.
 */
async function usedBy (prisma: Prisma.TransactionClient, sessionId: string, listId: string): Promise<string[]> {
  const rows = await prisma.status.findMany({
    where: { sessionId, state: { in: ['scheduled', 'pending'] }, audienceSpec: { path: ['id'], equals: listId } },
    select: { id: true },
    take: 20
  })
  return rows.map(r => r.id)
}

/** Saved audience lists: named sets of numbers of one session, used by id in a status's `audience`. */
export function createAudienceLists (deps: AudienceListsDeps) {
  const { prisma, log } = deps

  async function find (sessionId: string, listId: string): Promise<AudienceList> {
    const row = UUID.test(listId) ? await prisma.audienceList.findFirst({ where: { id: listId.toLowerCase(), sessionId } }) : null
    if (row !== null) return row
    await deps.sessions.load(sessionId)
    throw audienceListNotFound(sessionId, listId)
  }

  return {
    find,

    async create (sessionId: string, body: CreateAudienceListBody): Promise<AudienceListView> {
      const name = checkName(body.name)
      const numbers = phoneNumbers(body.numbers, deps.maxAudience, 'body.numbers')
      await deps.sessions.load(sessionId)
      try {
        const row = await prisma.audienceList.create({ data: { id: randomUUID(), sessionId, name, numbers } })
        log.info({ sessionId, listId: row.id, size: numbers.length }, 'audience list created')
        return toView(row)
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(sessionId, name)
        throw err
      }
    },

    /** Oldest first; whole, or one page with its cursor. */
    async list (sessionId: string, page: Page | null): Promise<{ items: AudienceListView[], nextCursor?: string | null }> {
      await deps.sessions.load(sessionId)
      const where = { sessionId, ...afterCreatedAt(page?.after ?? null, id => UUID.test(id)) }
      const rows = await prisma.audienceList.findMany({ where, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], ...(page === null ? {} : { take: page.take + 1 }) })
      if (page === null) return { items: rows.map(toView) }
      const { items, nextCursor } = paginate(rows, page.take, r => [r.createdAt.toISOString(), r.id])
      return { items: items.map(toView), nextCursor }
    },

    get: async (sessionId: string, listId: string): Promise<AudienceListView> => toView(await find(sessionId, listId)),

    async update (sessionId: string, listId: string, body: UpdateAudienceListBody): Promise<AudienceListView> {
      const name = body.name === undefined ? undefined : checkName(body.name)
      const numbers = body.numbers === undefined ? undefined : phoneNumbers(body.numbers, deps.maxAudience, 'body.numbers')
      const row = await find(sessionId, listId)
      try {
        const { count } = await prisma.audienceList.updateMany({
          where: { id: row.id, sessionId },
          data: { ...(name === undefined ? {} : { name }), ...(numbers === undefined ? {} : { numbers }) }
        })
        if (count === 0) throw audienceListNotFound(sessionId, listId)
      } catch (err) {
        if (name !== undefined && isUniqueViolation(err)) throw nameTaken(sessionId, name)
        throw err
      }
      return toView(await find(sessionId, listId))
    },

    /** Deletes a list no scheduled or pending status uses (409 `AUDIENCE_LIST_IN_USE` naming them otherwise). */
    async remove (sessionId: string, listId: string): Promise<{ id: string, deleted: true }> {
      const row = await find(sessionId, listId)
      // The list row locked first: a status being written with it (share lock) commits before the
      // check, and one written after waits and then finds the list gone.
      await prisma.$transaction(async tx => {
        const locked = await tx.$queryRaw<Array<{ id: string }>>`SELECT id::text FROM audience_lists WHERE id = ${row.id}::uuid AND session_id = ${sessionId} FOR UPDATE`
        if (locked.length === 0) throw audienceListNotFound(sessionId, listId)
        const statusIds = await usedBy(tx, sessionId, row.id)
        if (statusIds.length > 0) {
          throw new AppError('AUDIENCE_LIST_IN_USE', `Audience list ${row.id} is the audience of ${statusIds.length === 20 ? '20 or more statuses' : `${statusIds.length} status(es)`} not sent yet: cancel them or change their audience first`, { statusIds })
        }
        await tx.audienceList.delete({ where: { id: row.id } })
      }, LOCKING_TX)
      log.info({ sessionId, listId: row.id }, 'audience list deleted')
      return { id: row.id, deleted: true }
    }
  }
}

export type AudienceListsService = ReturnType<typeof createAudienceLists>

declare module 'fastify' {
  interface FastifyInstance {
    audienceLists: AudienceListsService
  }
}

export default fp(async function audienceLists (fastify) {
  fastify.decorate('audienceLists', createAudienceLists({
    prisma: fastify.prisma,
    sessions: fastify.sessions,
    maxAudience: fastify.config.MAX_AUDIENCE,
    log: fastify.log.child({ service: 'audience-lists' })
  }))
}, { name: 'audience-lists', dependencies: ['sessions'] })
