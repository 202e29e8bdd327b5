import type { Logger } from 'pino'
import type { PrismaClient } from '@wss/db'
import { createRedisConnection, redisKeys, type RedisClient } from '@wss/shared'
import { createWebhookFanout, type Resolver } from '@wss/webhooks'
import type { WorkerConfig } from '../config.ts'
import { createEventPublisher } from '../events.ts'
import { createDeliveryAttempts } from './attempt.ts'
import { createDeliveryWorker } from './delivery-worker.ts'
import { parseRetrySchedule } from './schedule.ts'

export interface WorkerWebhooksDeps {
  config: WorkerConfig
  prisma: PrismaClient
  /** The worker's command connection (queues, announcements). */
  redis: RedisClient
  log: Logger
  /** DNS for deliveries; the system resolver when unset. */
  resolve?: Resolver
}

/**
 * A worker process's webhooks: the fan-out its events go through (recording deliveries) and the
 * consumer of the `webhooks` queue that sends them.
 */
export async function createWorkerWebhooks (deps: WorkerWebhooksDeps) {
  const { config, prisma, redis } = deps
  const log = deps.log.child({ part: 'webhooks' })
  // Endpoint changes are announced on a channel: a connection of its own, in subscriber mode.
  const subscriber = createRedisConnection(config.REDIS_URL, { maxRetriesPerRequest: null, retryStrategy: (n: number) => Math.min(n * 200, 2000), lazyConnect: true })
  subscriber.on('error', err => log.debug({ err: err.message }, 'redis error'))
  await subscriber.connect()
  const fanout = createWebhookFanout({ prisma, redis, subscriber, prefix: config.REDIS_PREFIX, log })
  const attempts = createDeliveryAttempts({
    prisma,
    events: createEventPublisher(redis, config.REDIS_PREFIX, log, fanout),
    endpointsChanged: () => fanout.changed(),
    schedule: parseRetrySchedule(config.WEBHOOK_RETRY_SCHEDULE_MS),
    disableAfterMs: config.WEBHOOK_DISABLE_AFTER_MS,
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
    ...(deps.resolve === undefined ? {} : { resolve: deps.resolve }),
    log
  })
  const delivery = createDeliveryWorker({ connection: redis, bullPrefix: redisKeys(config.REDIS_PREFIX).bull, concurrency: config.WEBHOOK_CONCURRENCY, attempts, log })
  return {
    fanout,
    start: () => delivery.start(),
    /** Stops taking deliveries and waits for those being sent. */
    stopDelivering: () => delivery.close(),
    async close () {
      await fanout.close()
      subscriber.disconnect()
    }
  }
}
