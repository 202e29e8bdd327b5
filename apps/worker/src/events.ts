import type { RedisClient } from '@wss/shared'
import { encodeBusEvent, eventsChannel, type EventName, type EventPayload } from '@wss/shared'
import type { WebhookFanout } from '@wss/webhooks'
import type { Logger } from 'pino'

/**
 * Publishes events on Redis pub/sub, and hands each to the webhook fan-out (durable deliveries).
 * Call it after the data behind the event is committed.
 */
export function createEventPublisher (redis: RedisClient, prefix: string, logger: Logger, webhooks?: Pick<WebhookFanout, 'publish'>) {
  const channel = eventsChannel(prefix)
  return {
    publish<K extends EventName> (event: K, data: EventPayload<K>) {
      const message = encodeBusEvent(event, data)
      // Fire-and-forget: a client that missed an event re-reads state through the API.
      redis.publish(channel, message).catch(err => logger.warn({ err: (err as Error).message, event }, 'event not published'))
      // Not awaited either: the fan-out logs its own failures, and a burst must not wait on it.
      void webhooks?.publish(event, data)
    }
  }
}
export type EventPublisher = ReturnType<typeof createEventPublisher>
