import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { SessionIdParamsSchema } from '@wss/shared'
import { apiResponses } from '../../../schemas/responses.ts'
import { OkList } from '../../../schemas/lists.ts'
import { ContactListQuerySchema, ContactSchema } from '../../../schemas/contacts.ts'
import { readPage } from '../../../lib/cursor.ts'

const DESCRIPTION = 'What the session\'s worker learned from the linked phone: the address book (app-state sync; a ' +
  'contact removed from it stays listed with `inAddressBook: false` and `name: null`), the push names (history sync ' +
  'and messages) and LIDs. Ordered by `updatedAt`, then number: page with `limit` / `cursor`, or poll for changes ' +
  'with `updatedSince`. `contacts-updated` events tell when the list changed. A bad `updatedSince` is 400.'

/** `/api/sessions/:sessionId/contacts` (addition). */
const contacts: FastifyPluginAsyncTypebox = async fastify => {
  fastify.get('/:sessionId/contacts', {
    schema: {
      tags: ['contacts'],
      summary: 'The session\'s contacts (address book, push names, LIDs)',
      description: DESCRIPTION,
      params: SessionIdParamsSchema,
      querystring: ContactListQuerySchema,
      response: apiResponses({ 200: OkList(ContactSchema) }, [400, 404, 503])
    }
  }, async request => {
    const { limit, cursor, ...filters } = request.query
    const { items, nextCursor } = await fastify.contacts.list(request.params.sessionId, filters, readPage({ limit, cursor }))
    return { success: true as const, data: items, ...(nextCursor === undefined ? {} : { nextCursor }) }
  })
}

export default contacts
