import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import { duplicateRedisConnection, type RedisClient } from '@wss/shared'
import {
  AppError,
  createOwnerRegistry,
  isCommandPayload,
  redisKeys,
  type CommandJob,
  type CommandName,
  type CommandPayload,
  type CommandResult,
  type OwnerRegistry,
  type ScheduledStatusJob
} from '@wss/shared'
import { watchRedis } from '../../redis.ts'
import { createProducers, unavailable } from './command-bus/producers.ts'
import { createPendingReplies } from './command-bus/pending-replies.ts'

export interface SendOptions {
  /** How long to wait for the worker's reply. Default: the bus's `defaultWaitMs`. */
  waitMs?: number
  /** Worker to enqueue to, when the caller already resolved it (see {@link CommandBus.route}). */
  target?: string
  /**
   * BullMQ job id, which names the command for its whole life (forwarded copies derive theirs from
   * it); defaults to the request id. A fixed id makes BullMQ ignore a duplicate while one is queued.
   */
  jobId?: string
}

export interface QueueCounts { waiting: number, active: number, delayed: number, failed: number }
/** The deployment's own queues, which every worker consumes. */
export interface DeploymentQueueCounts { scheduledStatuses: QueueCounts, webhooks: QueueCounts }

export interface CommandBus {
  /** This node's id; replies come back on its reply channel (`redisKeys(prefix).replies(nodeId)`). */
  readonly nodeId: string
  readonly channel: string
  /** The worker a command for this session goes to: its live owner, else the least-loaded live worker. */
  route: (sessionId: string) => Promise<string>
  /**
   * Enqueues a command and resolves with its result (the worker's reply, checked against the
   * command's result schema). Rejects with the worker's coded error, `WORKER_TIMEOUT` when no reply came within `waitMs` (the job stays
   * queued), `NO_WORKER` when no worker is alive, `DEPENDENCY_UNAVAILABLE` when Redis is down.
   */
  send: <K extends CommandName>(name: K, payload: CommandPayload<K>, options?: SendOptions) => Promise<CommandResult<K>>
  /** Enqueues a command without waiting for its reply. */
  enqueue: <K extends CommandName>(name: K, payload: CommandPayload<K>, options?: Omit<SendOptions, 'waitMs'>) => Promise<void>
  /**
   * Queues the delayed job that fires a scheduled status after `delayMs` on whichever worker takes it
   * (the deployment's scheduled-statuses queue). `DEPENDENCY_UNAVAILABLE` when Redis is down.
   */
  schedule: (job: ScheduledStatusJob, delayMs: number) => Promise<void>
  /** Job counts summed over these workers' queues. */
  queueCounts: (workerIds: string[]) => Promise<QueueCounts>
  /** Job counts of the `scheduled-statuses` and `webhooks` queues. */
  deploymentQueueCounts: () => Promise<DeploymentQueueCounts>
  /** Resolves once the reply channel is subscribed. */
  subscribed: () => Promise<void>
  /** Closes the producers and the reply subscription; pending sends reject with WORKER_TIMEOUT. */
  close: () => Promise<void>
}

export interface CommandBusDeps {
  registry: OwnerRegistry
  /** Connection the producers share; fail-fast options (no offline queue). */
  queueConnection: RedisClient
  /** The node's pub/sub connection; the bus adds its reply channel to it. */
  subscriber: RedisClient
  prefix: string
  nodeId?: string
  defaultWaitMs: number
  log: FastifyBaseLogger
  /** Producers kept at most; the oldest is closed beyond it (workers come and go). */
  maxQueues?: number
}

// The worker a command for this session goes to: its live owner, else the least-loaded live worker.
async function routeTo (registry: OwnerRegistry, sessionId: string): Promise<string> {
  const owner = await registry.owner(sessionId)
  if (owner?.alive === true) return owner.workerId
  const worker = await registry.assign()
  if (worker === undefined) throw new AppError('NO_WORKER', 'No worker is available to run the command; try again once a worker is up')
  return worker
}

// Listens on the node's reply channel. Not awaited by the caller: ioredis subscribes once
// connected and again after every reconnect.
function subscribeReplies (subscriber: RedisClient, channel: string, onReply: (message: string) => void, log: FastifyBaseLogger) {
  const onMessage = (from: string, message: string) => {
    if (from === channel) onReply(message)
  }
  subscriber.on('message', onMessage)
  const subscription = subscriber.subscribe(channel).then(() => undefined)
  subscription.catch((err: unknown) => log.error({ err, channel }, 'reply channel subscription failed'))
  return { subscription, off: () => subscriber.off('message', onMessage) }
}

/** Creates the command bus of one API node (see {@link CommandBus}). */
export function createCommandBus (deps: CommandBusDeps): CommandBus {
  const { registry, subscriber, log } = deps
  const nodeId = deps.nodeId ?? randomUUID()
  const keys = redisKeys(deps.prefix)
  const channel = keys.replies(nodeId)
  const producers = createProducers({ connection: deps.queueConnection, bullPrefix: keys.bull, maxQueues: deps.maxQueues ?? 256, log })
  const replies = createPendingReplies(log)
  const { subscription, off } = subscribeReplies(subscriber, channel, replies.receive, log)
  let closed = false

  const route = (sessionId: string) => routeTo(registry, sessionId)

  function check<K extends CommandName> (name: K, payload: CommandPayload<K>): void {
    if (closed) throw unavailable()
    if (!isCommandPayload(name, payload)) throw new TypeError(`invalid ${name} payload`)
  }

  return {
    nodeId,
    channel,
    route,

    async enqueue (name, payload, options = {}) {
      check(name, payload)
      const target = options.target ?? await route(payload.sessionId)
      const requestId = randomUUID()
      await producers.add(target, { name, payload, enqueuedAt: Date.now() }, options.jobId ?? requestId)
      log.debug({ command: name, sessionId: payload.sessionId, workerId: target }, 'command queued')
    },

    async send<K extends CommandName> (name: K, payload: CommandPayload<K>, options: SendOptions = {}): Promise<CommandResult<K>> {
      check(name, payload)
      const waitMs = options.waitMs ?? deps.defaultWaitMs
      const target = options.target ?? await route(payload.sessionId)
      const requestId = randomUUID()
      const job: CommandJob = { name, payload, replyTo: { channel, requestId }, enqueuedAt: Date.now() }
      const reply = replies.expect(requestId, name)
      try {
        await producers.add(target, job, options.jobId ?? requestId)
      } catch (err) {
        replies.settle(requestId)
        throw err
      }
      replies.startTimer(requestId, waitMs, `The worker did not answer ${name} within ${waitMs} ms; the command stays queued`)
      log.debug({ command: name, sessionId: payload.sessionId, workerId: target, requestId }, 'command queued')
      return await reply
    },

    async schedule (job, delayMs) {
      if (closed) throw unavailable()
      await producers.schedule(job, delayMs)
      log.debug({ sessionId: job.sessionId, statusId: job.statusId, delayMs }, 'scheduled status queued')
    },

    queueCounts: producers.counts,
    deploymentQueueCounts: producers.deploymentCounts,

    subscribed: () => subscription,

    async close () {
      if (closed) return
      closed = true
      off()
      replies.rejectAll(() => new AppError('WORKER_TIMEOUT', 'The node is shutting down; the command stays queued'))
      await producers.close()
      if (subscriber.status === 'ready') await subscriber.unsubscribe(channel).catch(() => {})
    }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Read side of session ownership (workers' liveness, session owners). */
    owners: OwnerRegistry
    /** Sends commands to the worker that owns a session. */
    commands: CommandBus
  }
}

export interface CommandBusPluginOptions {
  subscriber: RedisClient
}

/**
 * The owner registry and the command bus. The producers get their own connection (a duplicate
 * of the request-path client, so it fails fast too): BullMQ loads its scripts into the
 * connection it is given, and the rate limiter's client stays untouched.
 */
export default fp<CommandBusPluginOptions>(async function commandBus (fastify, opts) {
  const { config } = fastify
  const owners = createOwnerRegistry(fastify.redis, config.REDIS_PREFIX)
  const queueConnection = duplicateRedisConnection(fastify.redis, { connectionName: 'wss-api-queue' })
  const log = fastify.log.child({ plugin: 'command-bus' })
  watchRedis(queueConnection, log)
  const bus = createCommandBus({
    registry: owners,
    queueConnection,
    subscriber: opts.subscriber,
    prefix: config.REDIS_PREFIX,
    defaultWaitMs: config.COMMAND_TIMEOUT_MS,
    log
  })
  fastify.decorate('owners', owners)
  fastify.decorate('commands', bus)
  fastify.addHook('onClose', async () => {
    await bus.close()
    if (queueConnection.status === 'ready') await queueConnection.quit().catch(() => queueConnection.disconnect())
    else queueConnection.disconnect()
  })
}, { name: 'command-bus', decorators: { fastify: ['redis', 'config'] } })
