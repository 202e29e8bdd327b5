import { createPrisma, takeSessionGeneration } from '@wss/db'
import { createOwnerRegistry, createRedisConnection, redisKeys } from '@wss/shared'
import type { Logger } from 'pino'
import { createAuthStore, createSharedKeyCache } from '../auth/index.ts'
import { createCommandRouter } from '../commands/command-router.ts'
import { createContactRecorder } from '../contacts/contact-recorder.ts'
import type { WorkerConfig } from '../config.ts'
import { createEventPublisher } from '../events.ts'
import { createCloser } from '../lib/closer.ts'
import { addMetricsSource } from '../lib/metrics.ts'
import { commandQueueBacklog } from '../lib/queue-backlog.ts'
import { createQueueProducers } from '../lib/queues.ts'
import { createMaintenance } from '../maintenance/maintenance.ts'
import { leaseConnectionOptions } from '../ownership/lease-connection.ts'
import { createOwnership } from '../ownership/ownership.ts'
import { createSweeper } from '../ownership/sweeper.ts'
import { createScheduledStatuses } from '../statuses/scheduled-statuses.ts'
import { createStatusService } from '../statuses/status-service.ts'
import { createViewerRecorder } from '../statuses/viewer-recorder.ts'
import { createSocketFactory } from '../wa/socket-factory.ts'
import { createWorkerWebhooks } from '../webhooks/worker-webhooks.ts'
import { ConnectLimiter } from './connect-limiter.ts'
import { SessionRegistry } from './session-registry.ts'

/**
 * One worker process, composed: its connections, the sessions it runs (and their lease), its
 * command queue, the sweep that keeps every session placed, deployment-wide maintenance, and one
 * ordered shutdown. Each part does one job; this function only wires them.
 */
export async function createWorkerManager (config: WorkerConfig, logger: Logger) {
  const workerId = config.WORKER_ID
  const keys = redisKeys(config.REDIS_PREFIX)
  const log = logger.child({ workerId })
  // The lease connection fails fast: a renewal that cannot reach Redis must count as a failure.
  const leaseRedis = createRedisConnection(config.REDIS_URL, leaseConnectionOptions(config.LEASE_TTL_MS))
  const redis = createRedisConnection(config.REDIS_URL, { maxRetriesPerRequest: null, enableOfflineQueue: true, retryStrategy: (n: number) => Math.min(n * 200, 2000), lazyConnect: true })
  for (const r of [leaseRedis, redis]) r.on('error', err => log.debug({ err: err.message }, 'redis error'))
  await Promise.all([leaseRedis.connect(), redis.connect()])

  const prisma = createPrisma(config.DATABASE_URL, { poolSize: config.DB_POOL_SIZE, idleInTransactionTimeoutMs: config.DB_IDLE_IN_TRANSACTION_MS, applicationName: 'wss-worker' })
  const webhooks = await createWorkerWebhooks({ config, prisma, redis, log })
  const events = createEventPublisher(redis, config.REDIS_PREFIX, log, webhooks.fanout)
  const authStore = createAuthStore({ prisma, logger: log, cache: createSharedKeyCache({ max: config.KEY_CACHE_MAX }) })
  const statuses = createStatusService({
    prisma, events, logger: log, config,
    fetch: { maxBytes: config.FETCH_MAX_MB * 1024 * 1024, timeoutMs: config.FETCH_TIMEOUT_MS, allowPrivate: config.FETCH_ALLOW_PRIVATE }
  })
  // What each socket reports that is kept: viewers from receipts, contacts from app-state and history sync.
  const recorders = [createViewerRecorder({ prisma, events, logger: log }), createContactRecorder({ prisma, events, logger: log })]
  const registry = createOwnerRegistry(redis, config.REDIS_PREFIX)
  const queues = createQueueProducers(redis, keys.bull)

  const ownership = createOwnership({
    redis: leaseRedis,
    prefix: config.REDIS_PREFIX,
    workerId,
    info: { pid: process.pid },
    leaseTtlMs: config.LEASE_TTL_MS,
    load: () => sessions.size,
    claimGeneration: sessionId => takeSessionGeneration(prisma, sessionId),
    onLost: (ids, reason) => sessions.lost(ids, reason),
    onRecovered: () => { log.info('lease recovered'); scheduled.recover(workerId) },
    onError: err => log.debug({ err: (err as Error).message }, 'lease renewal failed')
  })
  const sessions = new SessionRegistry({
    workerId, prisma, authStore, events, ownership, registry, config, log,
    makeSocket: createSocketFactory(config, log),
    connectLimiter: new ConnectLimiter(config.CONNECT_CONCURRENCY),
    onSocket: (runtime, sock) => { for (const r of recorders) r.watch(runtime, sock) }
  })
  const commands = createCommandRouter({
    workerId, connection: redis, bullPrefix: keys.bull, concurrency: config.COMMAND_CONCURRENCY, startWaitMs: config.START_WAIT_MS,
    sessions, registry, queues, prisma, statuses, events, scheduleGraceMs: config.SCHEDULE_GRACE_MINUTES * 60_000, log
  })
  const scheduled = createScheduledStatuses({
    connection: redis, bullPrefix: keys.bull, prisma, registry, queues, events, graceMs: config.SCHEDULE_GRACE_MINUTES * 60_000, log
  })
  const sweeper = createSweeper({ workerId, intervalMs: config.SWEEP_INTERVAL_MS, registry, ownership, sessions, queues, prisma, log })
  const maintenance = createMaintenance({
    workerId, prisma, registry, retentionDays: config.RETENTION_DAYS, analyticsRetentionDays: config.ANALYTICS_RETENTION_DAYS, intervalMs: config.MAINTENANCE_INTERVAL_MS, log,
    requeueDeliveries: (deliveries, name) => webhooks.fanout.enqueue(deliveries, name),
    requeueScheduled: () => scheduled.requeue()
  })

  // Shutdown in order: stop intake, stop sessions (each socket closed), flush viewers and contacts, hand the sessions over, close connections.
  // Each worker reports its own queue: the gauges carry its id, and a dead worker's jobs are re-routed by the reap.
  const closer = createCloser(log)
  closer.add('stop metrics', addMetricsSource({ workerId, sessionStates: () => sessions.states(), connectAttempts: () => sessions.connectAttempts(), queue: () => commandQueueBacklog(queues.of(workerId)) }))
  closer.add('stop sweeping and maintenance', () => Promise.all([sweeper.close(), maintenance.close()]))
  closer.add('stop taking commands and scheduled statuses', () => Promise.all([commands.close(), scheduled.close()]))
  closer.add('stop sending webhooks', () => webhooks.stopDelivering())
  closer.add('stop sessions', () => sessions.stopAll())
  closer.add('flush viewers and contacts', () => Promise.all(recorders.map(r => r.flush())))
  closer.add('release ownership', () => ownership.stop({ release: true }))
  closer.add('close queues', () => Promise.all([queues.close(), webhooks.close()]))
  closer.add('close database', () => prisma.$disconnect())
  closer.add('close redis', () => { redis.disconnect(); leaseRedis.disconnect() })
  closer.add('log', () => log.info('worker stopped'))

  return {
    workerId,
    prisma,
    sessions,
    ownership,
    maintenance,

    async start () {
      await ownership.start()
      commands.start()
      scheduled.start()
      webhooks.start()
      sweeper.start()
      maintenance.start()
      log.info('worker started')
    },

    /** Ordered shutdown; every caller gets the same promise. */
    close: () => closer.close()
  }
}

export type WorkerManager = Awaited<ReturnType<typeof createWorkerManager>>
