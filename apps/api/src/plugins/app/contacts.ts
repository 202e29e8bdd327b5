import fp from 'fastify-plugin'
import type { Prisma, PrismaClient } from '@wss/db'
import type { SessionsService } from './sessions.ts'
import { cursorDate, cursorString, paginate, type Page } from '../../lib/cursor.ts'
import { fieldError } from '../../lib/validation.ts'
import type { Contact, ContactListQuery } from '../../schemas/contacts.ts'

export interface ContactsDeps { prisma: PrismaClient, sessions: SessionsService }

type Filters = Pick<ContactListQuery, 'q' | 'updatedSince' | 'inAddressBook'>

// Keyset condition: contacts after the cursor's (updatedAt, phone), oldest change first.
function afterCursor (after: Page['after'] | null): Prisma.ContactWhereInput[] {
  if (after === null) return []
  const updatedAt = cursorDate(after, 0)
  const phone = cursorString(after, 1)
  return [{ OR: [{ updatedAt: { gt: updatedAt } }, { updatedAt, phone: { gt: phone } }] }]
}

function filters (query: Filters): Prisma.ContactWhereInput[] {
  const where: Prisma.ContactWhereInput[] = []
  if (query.updatedSince !== undefined) {
    const since = new Date(query.updatedSince)
    if (Number.isNaN(since.getTime()) || !/^\d{4}-\d\d-\d\d/.test(query.updatedSince)) throw fieldError('querystring.updatedSince', 'is not an ISO 8601 time')
    where.push({ updatedAt: { gte: since } })
  }
  if (query.inAddressBook !== undefined) where.push({ inAddressBook: query.inAddressBook })
  const q = query.q?.trim()
  if (q) {
    const digits = q.replace(/[\s()+.-]/g, '')
    where.push({
      OR: [
        { name: { contains: q, mode: 'insensitive' as const } },
        { pushName: { contains: q, mode: 'insensitive' as const } },
        ...(/^\d+$/.test(digits) ? [{ phone: { contains: digits } }] : [])
      ]
    })
  }
  return where
}

const asContact = (r: { phone: string, lid: string | null, name: string | null, pushName: string | null, inAddressBook: boolean, updatedAt: Date }): Contact => ({
  number: r.phone, lid: r.lid, name: r.name, pushName: r.pushName, inAddressBook: r.inAddressBook, updatedAt: r.updatedAt.toISOString()
})

/** The contacts the session's worker keeps from the linked phone (address book, push names, LIDs). */
export function createContactsService (deps: ContactsDeps) {
  return {
    /** Contacts in the order they last changed (then by number); the whole list without `limit` / `cursor`. */
    async list (sessionId: string, query: Filters, page: Page | null): Promise<{ items: Contact[], nextCursor?: string | null }> {
      const where = { sessionId, AND: [...filters(query), ...afterCursor(page?.after ?? null)] }
      const rows = await deps.prisma.contact.findMany({
        where,
        orderBy: [{ updatedAt: 'asc' }, { phone: 'asc' }],
        select: { phone: true, lid: true, name: true, pushName: true, inAddressBook: true, updatedAt: true },
        ...(page === null ? {} : { take: page.take + 1 })
      })
      if (rows.length === 0) await deps.sessions.load(sessionId)
      if (page === null) return { items: rows.map(asContact) }
      const { items, nextCursor } = paginate(rows, page.take, r => [r.updatedAt.toISOString(), r.phone])
      return { items: items.map(asContact), nextCursor }
    }
  }
}

export type ContactsService = ReturnType<typeof createContactsService>

declare module 'fastify' {
  interface FastifyInstance {
    contacts: ContactsService
  }
}

export default fp(async function contacts (fastify) {
  fastify.decorate('contacts', createContactsService({ prisma: fastify.prisma, sessions: fastify.sessions }))
}, { name: 'contacts', dependencies: ['sessions'] })
