import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'
import type { RedisClient } from '@wss/shared'
import { eventsChannel, isCluster, parseBusEvent, type BusEvent, type EventsGapPayload } from '@wss/shared'

export type BusListener = (event: BusEvent) => void
export type GapListener = (gap: EventsGapPayload) => void

export interface EventRelay {
  /** The Redis channel this node listens on. */
  readonly channel: string
  /** Registers a local listener for every valid event; returns its remover. */
  onEvent: (listener: BusListener) => () => void
  /** Resolves once the subscription is active (it is retried by ioredis while Redis is down). */
  subscribed: () => Promise<void>
  /** Registers a listener for the periods the subscription was down (once it is back); returns its remover. */
  onGap: (listener: GapListener) => () => void
}

declare module 'fastify' {
  interface FastifyInstance {
    events: EventRelay
  }
}

export interface EventRelayOptions {
  subscriber: RedisClient
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

  const gaps = watchGaps(subscriber, channel, log)

  fastify.decorate('events', {
    channel,
    onEvent (listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    subscribed: () => subscription,
    onGap: gaps.onGap
  } satisfies EventRelay)

  fastify.addHook('onClose', async () => {
    gaps.stop()
    subscriber.off('message', onMessage)
    listeners.clear()
    if (subscriber.status === 'ready') await subscriber.unsubscribe(channel).catch(() => {})
  })
}, { name: 'event-relay' })

/**
 * Pub/sub delivers to whoever is subscribed at that moment: while this node's subscriber is
 * disconnected (Redis restarting, a network cut) events are lost for its clients, though their
 * own connections stay up. Once ioredis has subscribed again, each period is reported so the
 * relays can tell their clients (`events-gap`) to re-read what they follow.
 */
function watchGaps (subscriber: RedisClient, channel: string, log: FastifyBaseLogger) {
  const listeners = new Set<GapListener>()
  let lostAt: number | null = null
  const onLost = () => { lostAt ??= Date.now() }
  const onReady = () => {
    if (lostAt === null) return
    const from = lostAt
    lostAt = null
    // ioredis subscribes again on reconnect; the gap ends once that subscription is confirmed.
    subscriber.subscribe(channel).then(() => {
      const gap = { from: new Date(from).toISOString(), to: new Date().toISOString() }
      log.warn(gap, 'events subscription restored: events of this period may be missing')
      for (const listener of listeners) listener(gap)
    }, (err: unknown) => { log.error({ err }, 'events subscription failed'); lostAt ??= from })
  }
  subscriber.on('close', onLost)
  subscriber.on('ready', onReady)
  const inner = isCluster(subscriber) ? followClusterSubscriber(subscriber, onLost, onReady) : undefined
  return {
    onGap (listener: GapListener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    stop () {
      inner?.stop()
      subscriber.off('close', onLost)
      subscriber.off('ready', onReady)
      listeners.clear()
    }
  }
}

/** ioredis' cluster subscriber: not in its typings, so reached through this one narrow view. */
interface ClusterWithSubscriber { subscriber?: { getInstance?: () => Redis | null } }

/**
 * On a Redis Cluster the subscription is one connection to one node, and ioredis replaces it with a
 * connection to another node when it ends (that node failed over or was cut off) — without a word at
 * the cluster level, whose `close`/`ready` only follow the whole cluster. Events published meanwhile
 * are lost all the same, so the gap is taken from that inner connection: it ends (`onLost`), and
 * once its successor is ready the subscription is confirmed and the period reported (`onReady`).
 */
function followClusterSubscriber (cluster: RedisClient, onLost: () => void, onReady: () => void) {
  let current: Redis | null = null
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const onEnd = () => {
    onLost()
    timer = setTimeout(attach, 0)
  }
  function attach () {
    if (stopped) return
    const next = (cluster as unknown as ClusterWithSubscriber).subscriber?.getInstance?.() ?? null
    // Not replaced yet (no node known, or the cluster is still choosing): look again shortly.
    if (next === null || next === current || next.status === 'end') {
      timer = setTimeout(attach, 250)
      return
    }
    current?.off('end', onEnd)
    current?.off('ready', onReady)
    current = next
    next.once('end', onEnd)
    next.on('ready', onReady)
  }
  attach()
  return {
    stop () {
      stopped = true
      clearTimeout(timer)
      current?.off('end', onEnd)
      current?.off('ready', onReady)
    }
  }
}
