import { randomUUID } from 'node:crypto'
import { Queue } from 'bullmq'
import type { RedisClient } from '@wss/shared'
import type { Logger } from 'pino'
import type { PrismaClient } from '@wss/db'
import { redisKeys, type EventName, type EventPayload } from '@wss/shared'
import { createEndpointCache, endpointWants } from './endpoint-cache.ts'
import { WEBHOOK_JOB_OPTIONS, WEBHOOK_QUEUE } from './queue.ts'

/** How long a process may use its endpoint list without re-reading it (changes are announced sooner). */
export const ENDPOINT_CACHE_MS = 5000

export interface WebhookFanoutDeps {
  prisma: PrismaClient
  /** A client for commands (the queue, announcements). */
  redis: RedisClient
  /** A connection in subscriber mode, shared with other channels; the fan-out adds its own listener. */
  subscriber: RedisClient
  prefix: string
  log: Pick<Logger, 'warn' | 'debug'>
}

/** Where one delivery is queued: the row's id, attempts it already had, and the job's id. */
export interface QueuedDelivery { deliveryId: string, base: number, jobId: string }

/**
 * Turns events into durable deliveries: for each enabled endpoint that wants the event, a row in
 * `webhook_deliveries` (one multi-row insert per event) and a job on the `webhooks` queue. Both
 * apps publish through one of these; the workers send.
 */
export function createWebhookFanout (deps: WebhookFanoutDeps) {
  const { prisma, log } = deps
  const keys = redisKeys(deps.prefix)
  const channel = keys.webhooksChangedChannel
  const cache = createEndpointCache(prisma, ENDPOINT_CACHE_MS)
  const queue = new Queue(WEBHOOK_QUEUE, { connection: deps.redis, prefix: keys.bull })
  queue.on('error', err => log.debug({ err: err.message }, 'webhook queue error'))
  // Recordings still running: close() waits for them (a worker flushing its last viewers on the way out).
  const inFlight = new Set<Promise<number>>()
  const onMessage = (from: string) => { if (from === channel) cache.invalidate() }
  deps.subscriber.on('message', onMessage)
  deps.subscriber.subscribe(channel).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'webhook change subscription failed'))

  async function enqueue (deliveries: QueuedDelivery[], name: string): Promise<void> {
    await queue.addBulk(deliveries.map(d => ({ name, data: { deliveryId: d.deliveryId, base: d.base }, opts: { ...WEBHOOK_JOB_OPTIONS, jobId: d.jobId } })))
  }

  async function record (event: EventName, data: unknown, sessionId: string | null): Promise<number> {
    const endpoints = (await cache.get()).filter(e => endpointWants(e, event, sessionId))
    if (endpoints.length === 0) return 0
    const ids = endpoints.map(() => randomUUID())
    // One statement for every endpoint; an endpoint deleted since the list was read is skipped by the join.
    const rows = await prisma.$queryRaw<Array<{ id: string }>>`
      INSERT INTO webhook_deliveries (id, endpoint_id, event, payload, next_attempt_at)
      SELECT d.id, d.endpoint_id, ${event}, ${JSON.stringify(data)}::jsonb, now()
      FROM unnest(${ids}::uuid[], ${endpoints.map(e => e.id)}::uuid[]) AS d (id, endpoint_id)
      JOIN webhook_endpoints e ON e.id = d.endpoint_id
      RETURNING id`
    await enqueue(rows.map(r => ({ deliveryId: r.id, base: 0, jobId: r.id })), event)
    return rows.length
  }

  return {
    /**
     * Records and queues `event` for every endpoint that wants it. Never throws and never needs
     * awaiting: callers publish on the hot path (a failure is logged, like a lost pub/sub message).
     */
    publish<K extends EventName> (event: K, data: EventPayload<K>): Promise<number> {
      const sessionId = 'sessionId' in data ? (data as { sessionId: string }).sessionId : null
      const done = record(event, data, sessionId).catch((err: unknown) => {
        log.warn({ err: (err as Error).message, event }, 'webhook deliveries not recorded')
        return 0
      })
      inFlight.add(done)
      void done.finally(() => inFlight.delete(done))
      return done
    },

    /** Queues deliveries whose rows exist (a test delivery, a redelivery). */
    enqueue,

    /** Drops this process's endpoint list and tells every other process to drop theirs. */
    async changed (): Promise<void> {
      cache.invalidate()
      await deps.redis.publish(channel, '1').catch((err: unknown) => log.warn({ err: (err as Error).message }, 'webhook change not announced; other processes reload within the cache time'))
    },

    async close (): Promise<void> {
      await Promise.all(inFlight)
      deps.subscriber.off('message', onMessage)
      if (deps.subscriber.status === 'ready') await deps.subscriber.unsubscribe(channel).catch(() => {})
      await queue.close()
    }
  }
}
export type WebhookFanout = ReturnType<typeof createWebhookFanout>
