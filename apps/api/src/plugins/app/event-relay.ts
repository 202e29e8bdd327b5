import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import { eventsChannel, parseBusEvent, type BusEvent } from '@wss/shared'

export type BusListener = (event: BusEvent) => void

export interface EventRelay {
  /** The Redis channel this node listens on. */
  readonly channel: string
  /** Registers a local listener for every valid event; returns its remover. */
  onEvent: (listener: BusListener) => () => void
  /** Resolves once the subscription is active (it is retried by ioredis while Redis is down). */
  subscribed: () => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    events: EventRelay
  }
}

export interface EventRelayOptions {
  subscriber: Redis
}

/**
 * Relays worker events from Redis pub/sub to this node's listeners (Socket.IO, WebSocket).
 * Every node subscribes itself, so every node delivers every event, wherever it was raised.
 */
export default fp<EventRelayOptions>(async function eventRelay (fastify, { subscriber }) {
  const channel = eventsChannel(fastify.config.REDIS_PREFIX)
  const listeners = new Set<BusListener>()
  const log = fastify.log.child({ channel })

  const onMessage = (from: string, message: string) => {
    if (from !== channel) return
    const event = parseBusEvent(message)
    if (event === null) {
      // Pub/sub input is untrusted like an HTTP body; log its size, not its content.
      log.warn({ bytes: Buffer.byteLength(message) }, 'dropped invalid bus event')
      return
    }
    for (const listener of listeners) {
      try {
        listener(event)
      } catch (err) {
        log.error({ err, event: event.event }, 'event listener failed')
      }
    }
  }
  subscriber.on('message', onMessage)

  // Not awaited: a node boots (and reports not-ready) while Redis is down; ioredis
  // sends the SUBSCRIBE once it connects and re-subscribes after every reconnect.
  const subscription = subscriber.subscribe(channel).then(() => {
    log.debug('subscribed to events channel')
  })
  subscription.catch((err: unknown) => log.error({ err }, 'events subscription failed'))

  fastify.decorate('events', {
    channel,
    onEvent (listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    subscribed: () => subscription
  } satisfies EventRelay)

  fastify.addHook('onClose', async () => {
    subscriber.off('message', onMessage)
    listeners.clear()
    if (subscriber.status === 'ready') await subscriber.unsubscribe(channel).catch(() => {})
  })
}, { name: 'event-relay' })
