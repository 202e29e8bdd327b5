import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { PrismaClient, WebhookEndpoint } from '@wss/db'
import { AppError } from '@wss/shared'
import { checkWebhookUrl, newWebhookSecret, UrlNotAllowedError, type Resolver, type WebhookFanout } from '@wss/webhooks'
import { inScope, type KeyScope } from '../../../lib/key-scope.ts'
import { afterCreatedAt, paginate, type Page } from '../../../lib/cursor.ts'
import type { CreateWebhookBody, UpdateWebhookBody, WebhookView } from '../../../schemas/webhooks.ts'
import { ownedBy, toWebhookView, UUID, webhookNotFound } from './endpoint-view.ts'

export interface WebhookEndpointsDeps {
  prisma: PrismaClient
  fanout: Pick<WebhookFanout, 'changed'>
  allowPrivate: boolean
  resolve?: Resolver
  log: FastifyBaseLogger
}

/**
 * A scoped key's endpoints name only its sessions: `sessionIds` is required unless the key sees
 * every session, and each id must be within its scope.
 */
function checkSessions (scope: KeyScope, sessionIds: string[] | null | undefined): void {
  if (scope.admin || scope.sessions === 'all') return
  if (sessionIds === null || sessionIds === undefined) {
    throw new AppError('FORBIDDEN', 'A key scoped to some sessions must name them in sessionIds', [{ field: 'body.sessionIds', message: 'is required for this key' }])
  }
  const outside = sessionIds.filter(id => !inScope(scope, id))
  if (outside.length > 0) {
    throw new AppError('FORBIDDEN', 'sessionIds names sessions outside this key\'s scope', [{ field: 'body.sessionIds', message: 'names sessions outside this key\'s scope' }])
  }
}

/** Endpoints: created, read, changed and deleted within a key's reach. */
export function createWebhookEndpoints (deps: WebhookEndpointsDeps) {
  const { prisma, fanout, log } = deps

  async function checkUrl (url: string): Promise<string> {
    try {
      return await checkWebhookUrl(url, { allowPrivate: deps.allowPrivate, ...(deps.resolve === undefined ? {} : { resolve: deps.resolve }) })
    } catch (err) {
      if (!(err instanceof UrlNotAllowedError)) throw err
      throw new AppError('URL_NOT_ALLOWED', `body.url is not allowed: ${err.message}`, [{ field: 'body.url', message: err.message }])
    }
  }

  async function find (scope: KeyScope, id: string): Promise<WebhookEndpoint> {
    const row = UUID.test(id) ? await prisma.webhookEndpoint.findFirst({ where: { id, ...ownedBy(scope) } }) : null
    if (row === null) throw webhookNotFound(id)
    return row
  }

  return {
    find,

    async create (scope: KeyScope, body: CreateWebhookBody): Promise<WebhookView & { secret: string }> {
      checkSessions(scope, body.sessionIds)
      const url = await checkUrl(body.url)
      const secret = newWebhookSecret()
      const row = await prisma.webhookEndpoint.create({
        data: { id: randomUUID(), url, events: body.events ?? [], sessionIds: body.sessionIds ?? [], description: body.description ?? null, secret, ownerKeyId: scope.admin ? null : scope.keyId }
      })
      await fanout.changed()
      log.info({ webhookId: row.id }, 'webhook endpoint created')
      return { ...toWebhookView(row), secret }
    },

    /** Oldest first; whole, or one page with its cursor. */
    async list (scope: KeyScope, page: Page | null): Promise<{ items: WebhookView[], nextCursor?: string | null }> {
      const where = { ...ownedBy(scope), ...afterCreatedAt(page?.after ?? null, id => UUID.test(id)) }
      const rows = await prisma.webhookEndpoint.findMany({ where, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], ...(page === null ? {} : { take: page.take + 1 }) })
      if (page === null) return { items: rows.map(toWebhookView) }
      const { items, nextCursor } = paginate(rows, page.take, r => [r.createdAt.toISOString(), r.id])
      return { items: items.map(toWebhookView), nextCursor }
    },

    get: async (scope: KeyScope, id: string): Promise<WebhookView> => toWebhookView(await find(scope, id)),

    async update (scope: KeyScope, id: string, body: UpdateWebhookBody): Promise<WebhookView> {
      await find(scope, id)
      if (body.sessionIds !== undefined) checkSessions(scope, body.sessionIds)
      const url = body.url === undefined ? undefined : await checkUrl(body.url)
      const row = await prisma.webhookEndpoint.update({
        where: { id },
        data: {
          ...(url === undefined ? {} : { url }),
          ...(body.events === undefined ? {} : { events: body.events ?? [] }),
          ...(body.sessionIds === undefined ? {} : { sessionIds: body.sessionIds ?? [] }),
          ...(body.description === undefined ? {} : { description: body.description }),
          // Enabling again starts afresh: no reason, no failing run.
          ...(body.enabled === undefined ? {} : body.enabled ? { enabled: true, disabledReason: null, failingSince: null } : { enabled: false })
        }
      })
      await fanout.changed()
      return toWebhookView(row)
    },

    async remove (scope: KeyScope, id: string): Promise<{ id: string, deleted: true }> {
      const { count } = UUID.test(id) ? await prisma.webhookEndpoint.deleteMany({ where: { id, ...ownedBy(scope) } }) : { count: 0 }
      if (count === 0) throw webhookNotFound(id)
      await fanout.changed()
      log.info({ webhookId: id }, 'webhook endpoint deleted')
      return { id, deleted: true }
    },

    /** A new secret; deliveries signed from now on use it (the old one no longer verifies them). */
    async rotateSecret (scope: KeyScope, id: string): Promise<WebhookView & { secret: string }> {
      await find(scope, id)
      const secret = newWebhookSecret()
      const row = await prisma.webhookEndpoint.update({ where: { id }, data: { secret } })
      log.info({ webhookId: id }, 'webhook secret rotated')
      return { ...toWebhookView(row), secret }
    }
  }
}
export type WebhookEndpoints = ReturnType<typeof createWebhookEndpoints>
