import type { WebhookDelivery, WebhookEndpoint } from '@wss/db'
import { AppError } from '@wss/shared'
import type { KeyScope } from '../../../lib/key-scope.ts'
import type { DeliveryView, WebhookView } from '../../../schemas/webhooks.ts'

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export const webhookNotFound = (id: string) => new AppError('WEBHOOK_NOT_FOUND', `Webhook endpoint ${id.slice(0, 128)} not found`)
export const deliveryNotFound = (id: string) => new AppError('DELIVERY_NOT_FOUND', `Webhook delivery ${id.slice(0, 128)} not found`)

/** The endpoints a key may see: an admin key every one, a scoped key those it created. */
export function ownedBy (scope: KeyScope): { ownerKeyId?: string } {
  return scope.admin || scope.keyId === null ? {} : { ownerKeyId: scope.keyId }
}

const orNull = (list: string[]) => list.length === 0 ? null : list

/** An endpoint as answered: never its secret; empty filters read as null (everything). */
export function toWebhookView (row: WebhookEndpoint): WebhookView {
  return {
    id: row.id,
    url: row.url,
    events: orNull(row.events),
    sessionIds: orNull(row.sessionIds),
    description: row.description,
    enabled: row.enabled,
    disabledReason: row.disabledReason === 'gone' || row.disabledReason === 'failing' ? row.disabledReason : null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString()
  }
}

/** A delivery as answered. */
export function toDeliveryView (row: WebhookDelivery): DeliveryView {
  return {
    id: row.id,
    event: row.event,
    state: row.state,
    attempts: row.attempts,
    lastStatusCode: row.lastStatusCode,
    lastError: row.lastError,
    nextAttemptAt: row.nextAttemptAt?.toISOString() ?? null,
    lastAttemptAt: row.lastAttemptAt?.toISOString() ?? null,
    responseExcerpt: row.lastResponse,
    createdAt: row.createdAt.toISOString()
  }
}
