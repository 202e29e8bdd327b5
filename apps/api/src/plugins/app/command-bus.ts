import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import { Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import {
  AppError,
  COMMAND_JOB_OPTIONS,
  createOwnerRegistry,
  isCommandPayload,
  isCommandResult,
  parseCommandReply,
  redisKeys,
  workerQueueName,
  type CommandJob,
  type CommandName,
  type CommandPayload,
  type CommandResult,
  type OwnerRegistry
} from '@wss/shared'
import { isRedisUnavailableError, watchRedis } from '../../redis.ts'

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
  /** Job counts summed over these workers' queues. */
  queueCounts: (workerIds: string[]) => Promise<QueueCounts>
  /** Resolves once the reply channel is subscribed. */
  subscribed: () => Promise<void>
  /** Closes the producers and the reply subscription; pending sends reject with WORKER_TIMEOUT. */
  close: () => Promise<void>
}

export interface CommandBusDeps {
  registry: OwnerRegistry
  /** Connection the producers share; fail-fast options (no offline queue). */
  queueConnection: Redis
  /** The node's pub/sub connection; the bus adds its reply channel to it. */
  subscriber: Redis
  prefix: string
  nodeId?: string
  defaultWaitMs: number
  log: FastifyBaseLogger
  /** Producers kept at most; the oldest is closed beyond it (workers come and go). */
  maxQueues?: number
}

interface Pending {
  name: CommandName
  resolve: (data: unknown) => void
  reject: (err: Error) => void
  timer?: NodeJS.Timeout
}

/** Creates the command bus of one API node (see {@link CommandBus}). */
export function createCommandBus (deps: CommandBusDeps): CommandBus {
  const { registry, queueConnection, subscriber, prefix, log } = deps
  const nodeId = deps.nodeId ?? randomUUID()
  const keys = redisKeys(prefix)
  const channel = keys.replies(nodeId)
  const maxQueues = deps.maxQueues ?? 256
  const queues = new Map<string, Queue>()
  const pending = new Map<string, Pending>()
  let closed = false

  const onMessage = (from: string, message: string) => {
    if (from !== channel) return
    const reply = parseCommandReply(message)
    if (reply === null) {
      log.warn({ bytes: Buffer.byteLength(message) }, 'dropped invalid command reply')
      return
    }
    const waiting = pending.get(reply.requestId)
    if (waiting === undefined) {
      log.debug({ requestId: reply.requestId }, 'reply after its request gave up')
      return
    }
    settle(reply.requestId)
    if (!reply.ok) {
      waiting.reject(new AppError(reply.code, reply.message))
    } else if (isCommandResult(waiting.name, reply.data)) {
      waiting.resolve(reply.data)
    } else {
      log.error({ requestId: reply.requestId, command: waiting.name }, 'worker answered a result that is not the command\'s')
      waiting.reject(new AppError('INTERNAL'))
    }
  }
  subscriber.on('message', onMessage)
  // Not awaited: ioredis subscribes once connected and again after every reconnect.
  const subscription = subscriber.subscribe(channel).then(() => undefined)
  subscription.catch((err: unknown) => log.error({ err, channel }, 'reply channel subscription failed'))

  function settle (requestId: string): void {
    const entry = pending.get(requestId)
    if (entry?.timer !== undefined) clearTimeout(entry.timer)
    pending.delete(requestId)
  }

  function queue (workerId: string): Queue {
    let q = queues.get(workerId)
    if (q !== undefined) {
      // Map order doubles as recency.
      queues.delete(workerId)
      queues.set(workerId, q)
      return q
    }
    q = new Queue(workerQueueName(workerId), { connection: queueConnection, prefix: keys.bull })
    q.on('error', (err: Error) => log.warn({ err, workerId }, 'command queue error'))
    queues.set(workerId, q)
    if (queues.size > maxQueues) {
      const [oldestId, oldest] = queues.entries().next().value as [string, Queue]
      queues.delete(oldestId)
      oldest.close().catch(() => {})
    }
    return q
  }

  function dropQueue (workerId: string): void {
    const q = queues.get(workerId)
    if (q === undefined) return
    queues.delete(workerId)
    q.close().catch(() => {})
  }

  function unavailable (cause?: unknown): AppError {
    return new AppError('DEPENDENCY_UNAVAILABLE', 'Redis is unavailable: the command could not be queued', undefined, { cause })
  }

  async function route (sessionId: string): Promise<string> {
    const owner = await registry.owner(sessionId)
    if (owner?.alive === true) return owner.workerId
    const worker = await registry.assign()
    if (worker === undefined) throw new AppError('NO_WORKER', 'No worker is available to run the command; try again once a worker is up')
    return worker
  }

  async function enqueue (workerId: string, job: CommandJob, jobId: string): Promise<void> {
    // A producer created while Redis is down would wait for it; refuse at once instead.
    if (queueConnection.status !== 'ready') throw unavailable()
    try {
      await queue(workerId).add(job.name, job, { ...COMMAND_JOB_OPTIONS, jobId })
    } catch (err) {
      // A producer whose first connection failed stays broken; the next send makes a new one.
      dropQueue(workerId)
      if (isRedisUnavailableError(err)) throw unavailable(err)
      throw err
    }
  }

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
      await enqueue(target, { name, payload, enqueuedAt: Date.now() }, options.jobId ?? requestId)
      log.debug({ command: name, sessionId: payload.sessionId, workerId: target }, 'command queued')
    },

    async send<K extends CommandName> (name: K, payload: CommandPayload<K>, options: SendOptions = {}): Promise<CommandResult<K>> {
      check(name, payload)
      const waitMs = options.waitMs ?? deps.defaultWaitMs
      const target = options.target ?? await route(payload.sessionId)
      const requestId = randomUUID()
      const job: CommandJob = { name, payload, replyTo: { channel, requestId }, enqueuedAt: Date.now() }
      // Registered before the job exists, so even an instant reply finds its request.
      const reply = new Promise<CommandResult<K>>((resolve, reject) => {
        pending.set(requestId, { name, resolve: resolve as (data: unknown) => void, reject })
      })
      try {
        await enqueue(target, job, options.jobId ?? requestId)
      } catch (err) {
        settle(requestId)
        throw err
      }
      const entry = pending.get(requestId)
      if (entry !== undefined) {
        entry.timer = setTimeout(() => {
          settle(requestId)
          entry.reject(new AppError('WORKER_TIMEOUT', `The worker did not answer ${name} within ${waitMs} ms; the command stays queued`))
        }, waitMs)
        entry.timer.unref()
      }
      log.debug({ command: name, sessionId: payload.sessionId, workerId: target, requestId }, 'command queued')
      return await reply
    },

    async queueCounts (workerIds) {
      const total: QueueCounts = { waiting: 0, active: 0, delayed: 0, failed: 0 }
      if (workerIds.length === 0) return total
      if (queueConnection.status !== 'ready') throw unavailable()
      const counts = await Promise.all(workerIds.map(id =>
        queue(id).getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized', 'waiting-children')))
      for (const c of counts) {
        total.waiting += (c.waiting ?? 0) + (c.prioritized ?? 0) + (c['waiting-children'] ?? 0)
        total.active += c.active ?? 0
        total.delayed += c.delayed ?? 0
        total.failed += c.failed ?? 0
      }
      return total
    },

    subscribed: () => subscription,

    async close () {
      if (closed) return
      closed = true
      subscriber.off('message', onMessage)
      for (const [requestId, entry] of pending) {
        settle(requestId)
        entry.reject(new AppError('WORKER_TIMEOUT', 'The node is shutting down; the command stays queued'))
      }
      const all = [...queues.values()]
      queues.clear()
      await Promise.allSettled(all.map(q => q.close()))
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
  subscriber: Redis
}

/**
 * The owner registry and the command bus. The producers get their own connection (a duplicate
 * of the request-path client, so it fails fast too): BullMQ loads its scripts into the
 * connection it is given, and the rate limiter's client stays untouched.
 */
export default fp<CommandBusPluginOptions>(async function commandBus (fastify, opts) {
  const { config } = fastify
  const owners = createOwnerRegistry(fastify.redis, config.REDIS_PREFIX)
  const queueConnection = fastify.redis.duplicate({ connectionName: 'wss-api-queue' })
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
