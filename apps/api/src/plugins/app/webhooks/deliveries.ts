import { randomUUID } from 'node:crypto'
import type { PrismaClient, WebhookDeliveryState } from '@wss/db'
import type { WebhookFanout } from '@wss/webhooks'
import type { KeyScope } from '../../../lib/key-scope.ts'
import { cursorDate, cursorString, paginate, type Page } from '../../../lib/cursor.ts'
import type { DeliveryView } from '../../../schemas/webhooks.ts'
import type { WebhookEndpoints } from './endpoints.ts'
import { deliveryNotFound, toDeliveryView, UUID } from './endpoint-view.ts'

/** The delivery type of `POST /api/webhooks/:id/test` (never an event of the streams). */
export const TEST_EVENT = 'webhook.test'

export interface WebhookDeliveriesDeps {
  prisma: PrismaClient
  fanout: Pick<WebhookFanout, 'enqueue'>
  endpoints: Pick<WebhookEndpoints, 'find'>
}

// Newest first: rows before the cursor's (createdAt, id).
function before (after: unknown[] | null) {
  if (after === null) return {}
  const createdAt = cursorDate(after, 0)
  const id = cursorString(after, 1)
  if (!UUID.test(id)) return { id: { in: [] } }
  return { OR: [{ createdAt: { lt: createdAt } }, { createdAt, id: { lt: id } }] }
}

/** An endpoint's deliveries: listed, tested, sent again. */
export function createWebhookDeliveries (deps: WebhookDeliveriesDeps) {
  const { prisma, fanout, endpoints } = deps
  return {
    /** Newest first, optionally one state; whole, or one page with its cursor. */
    async list (scope: KeyScope, id: string, state: WebhookDeliveryState | undefined, page: Page | null): Promise<{ items: DeliveryView[], nextCursor?: string | null }> {
      await endpoints.find(scope, id)
      const where = { endpointId: id, ...(state === undefined ? {} : { state }), ...before(page?.after ?? null) }
      const rows = await prisma.webhookDelivery.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], ...(page === null ? {} : { take: page.take + 1 }) })
      if (page === null) return { items: rows.map(toDeliveryView) }
      const { items, nextCursor } = paginate(rows, page.take, r => [r.createdAt.toISOString(), r.id])
      return { items: items.map(toDeliveryView), nextCursor }
    },

    /** Queues a `webhook.test` delivery to the endpoint. */
    async test (scope: KeyScope, id: string): Promise<DeliveryView> {
      await endpoints.find(scope, id)
      const row = await prisma.webhookDelivery.create({
        data: { id: randomUUID(), endpointId: id, event: TEST_EVENT, payload: { webhookId: id, message: 'A test delivery: if you can verify its signature, the endpoint is set up.' }, nextAttemptAt: new Date() }
      })
      await fanout.enqueue([{ deliveryId: row.id, base: 0, jobId: row.id }], TEST_EVENT)
      return toDeliveryView(row)
    },

    /**
     * Sends a finished delivery again, with the same `webhook-id` (its attempts go on counting). A
     * delivery still pending is answered as it is: it is already on its way.
     */
    async redeliver (scope: KeyScope, id: string, deliveryId: string): Promise<DeliveryView> {
      await endpoints.find(scope, id)
      const found = UUID.test(deliveryId) ? await prisma.webhookDelivery.findFirst({ where: { id: deliveryId, endpointId: id } }) : null
      if (found === null) throw deliveryNotFound(deliveryId)
      if (found.state === 'pending') return toDeliveryView(found)
      const { count } = await prisma.webhookDelivery.updateMany({
        where: { id: deliveryId, state: found.state, attempts: found.attempts },
        data: { state: 'pending', nextAttemptAt: new Date() }
      })
      // A concurrent redelivery already did it.
      if (count === 1) await fanout.enqueue([{ deliveryId, base: found.attempts, jobId: `${deliveryId}-r${found.attempts}` }], found.event)
      return toDeliveryView(await prisma.webhookDelivery.findUniqueOrThrow({ where: { id: deliveryId } }))
    }
  }
}
export type WebhookDeliveries = ReturnType<typeof createWebhookDeliveries>
