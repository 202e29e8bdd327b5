import fp from 'fastify-plugin'
import { encodeBusEvent, eventsChannel, type EventName, type EventPayload } from '@wss/shared'

/** Publishes an event to every node's clients; never throws (pub/sub is fire-and-forget). */
export type PublishEvent = <K extends EventName>(event: K, data: EventPayload<K>) => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    publishEvent: PublishEvent
  }
}

/**
 * Events the API raises itself (`session-created`, and `session-deleted` when no worker is
 * alive to do it), on the events channel and to the webhook fan-out. Called after the change is committed; a client that missed one re-reads
 * the state through the API, so a failed publish is logged, not raised.
 */
export default fp(async function eventPublisher (fastify) {
  const channel = eventsChannel(fastify.config.REDIS_PREFIX)
  const publish: PublishEvent = async (event, data) => {
    const message = encodeBusEvent(event, data)
    // Recorded for webhooks without waiting: the fan-out logs its own failures.
    void fastify.webhooks.fanout.publish(event, data)
    try {
      await fastify.redis.publish(channel, message)
    } catch (err) {
      fastify.log.warn({ err, event }, 'event not published')
    }
  }
  fastify.decorate('publishEvent', publish)
}, { name: 'event-publisher', decorators: { fastify: ['redis', 'config', 'webhooks'] } })
