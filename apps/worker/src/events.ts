import type { Redis } from 'ioredis'
import { encodeBusEvent, eventsChannel, type EventName, type EventPayload } from '@wss/shared'
import type { Logger } from 'pino'

/** Publishes events on Redis pub/sub. Call it after the data behind the event is committed. */
export function createEventPublisher (redis: Redis, prefix: string, logger: Logger) {
  const channel = eventsChannel(prefix)
  return {
    publish<K extends EventName> (event: K, data: EventPayload<K>) {
      // Fire-and-forget: a client that missed an event re-reads state through the API.
      redis.publish(channel, encodeBusEvent(event, data)).catch(err => logger.warn({ err: (err as Error).message, event }, 'event not published'))
    }
  }
}
export type EventPublisher = ReturnType<typeof createEventPublisher>
