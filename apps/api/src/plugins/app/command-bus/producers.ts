import type { FastifyBaseLogger } from 'fastify'
import { Queue } from 'bullmq'
import type { RedisClient } from '@wss/shared'
import { AppError, COMMAND_JOB_OPTIONS, SCHEDULE_JOB_OPTIONS, SCHEDULE_QUEUE, scheduledJobId, workerQueueName, type CommandJob, type ScheduledStatusJob } from '@wss/shared'
import { WEBHOOK_QUEUE } from '@wss/webhooks'
import { isRedisUnavailableError } from '../../../redis.ts'
import type { DeploymentQueueCounts, QueueCounts } from '../command-bus.ts'

export function unavailable (cause?: unknown): AppError {
  return new AppError('DEPENDENCY_UNAVAILABLE', 'Redis is unavailable: the command could not be queued', undefined, { cause })
}

export interface ProducersDeps {
  /** Connection the producers share; fail-fast options (no offline queue). */
  connection: RedisClient
  /** BullMQ key prefix. */
  bullPrefix: string
  /** Producers kept at most; the oldest is closed beyond it (workers come and go). */
  maxQueues: number
  log: FastifyBaseLogger
}

/** One BullMQ producer per worker queue, the least recently used closed beyond `maxQueues`. */
export function createProducers ({ connection, bullPrefix, maxQueues, log }: ProducersDeps) {
  const queues = new Map<string, Queue>()

  function queue (workerId: string): Queue {
    let q = queues.get(workerId)
    if (q !== undefined) {
      // Map order doubles as recency.
      queues.delete(workerId)
      queues.set(workerId, q)
      return q
    }
    q = new Queue(workerQueueName(workerId), { connection, prefix: bullPrefix })
    q.on('error', (err: Error) => log.warn({ err, workerId }, 'command queue error'))
    queues.set(workerId, q)
    if (queues.size > maxQueues) {
      const [oldestId, oldest] = queues.entries().next().value as [string, Queue]
      queues.delete(oldestId)
      oldest.close().catch(() => {})
    }
    return q
  }

  function drop (workerId: string): void {
    const q = queues.get(workerId)
    if (q === undefined) return
    queues.delete(workerId)
    q.close().catch(() => {})
  }

  async function add (workerId: string, job: CommandJob, jobId: string): Promise<void> {
    // A producer created while Redis is down would wait for it; refuse at once instead.
    if (connection.status !== 'ready') throw unavailable()
    try {
      await queue(workerId).add(job.name, job, { ...COMMAND_JOB_OPTIONS, jobId })
    } catch (err) {
      // A producer whose first connection failed stays broken; the next send makes a new one.
      drop(workerId)
      if (isRedisUnavailableError(err)) throw unavailable(err)
      throw err
    }
  }

  let scheduleQueue: Queue | null = null

  /** Adds the delayed job of one version of a scheduled status (the same version twice is one job). */
  async function schedule (job: ScheduledStatusJob, delayMs: number): Promise<void> {
    if (connection.status !== 'ready') throw unavailable()
    if (scheduleQueue === null) {
      scheduleQueue = new Queue(SCHEDULE_QUEUE, { connection, prefix: bullPrefix })
      scheduleQueue.on('error', (err: Error) => log.warn({ err }, 'schedule queue error'))
    }
    try {
      await scheduleQueue.add('fire', job, { ...SCHEDULE_JOB_OPTIONS, jobId: scheduledJobId(job.statusId, job.version), delay: Math.max(0, delayMs) })
    } catch (err) {
      const broken = scheduleQueue
      scheduleQueue = null
      broken.close().catch(() => {})
      if (isRedisUnavailableError(err)) throw unavailable(err)
      throw err
    }
  }

  async function counts (workerIds: string[]): Promise<QueueCounts> {
    if (workerIds.length === 0) return sum([])
    if (connection.status !== 'ready') throw unavailable()
    return sum(await Promise.all(workerIds.map(id => rawCounts(queue(id)))))
  }

  const deployment = createDeploymentQueues(connection, bullPrefix, log)

  /** Job counts of the deployment's scheduled-statuses and webhooks queues (every worker consumes them). */
  async function deploymentCounts (): Promise<DeploymentQueueCounts> {
    if (connection.status !== 'ready') throw unavailable()
    return await deployment.counts()
  }

  async function close (): Promise<void> {
    const all = [...queues.values(), ...(scheduleQueue === null ? [] : [scheduleQueue])]
    queues.clear()
    scheduleQueue = null
    await Promise.allSettled([...all.map(q => q.close()), deployment.close()])
  }

  return { add, schedule, counts, deploymentCounts, close }
}

/** Read-only handles on the deployment's own queues (scheduled statuses, webhooks), for their counts. */
function createDeploymentQueues (connection: RedisClient, bullPrefix: string, log: FastifyBaseLogger) {
  const handles = new Map<string, Queue>()
  function handle (name: string): Queue {
    let q = handles.get(name)
    if (q === undefined) {
      q = new Queue(name, { connection, prefix: bullPrefix })
      q.on('error', (err: Error) => log.warn({ err, queue: name }, 'queue error'))
      handles.set(name, q)
    }
    return q
  }
  return {
    async counts (): Promise<DeploymentQueueCounts> {
      const [scheduledStatuses, webhooks] = await Promise.all([SCHEDULE_QUEUE, WEBHOOK_QUEUE].map(async name => sum([await rawCounts(handle(name))])))
      return { scheduledStatuses: scheduledStatuses!, webhooks: webhooks! }
    },
    async close (): Promise<void> {
      const all = [...handles.values()]
      handles.clear()
      await Promise.allSettled(all.map(q => q.close()))
    }
  }
}

function rawCounts (q: Queue): Promise<Record<string, number>> {
  return q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized', 'waiting-children')
}

/** Counts added up; a prioritized job or one waiting for its children is waiting too. */
function sum (all: Array<Record<string, number | undefined>>): QueueCounts {
  const total: QueueCounts = { waiting: 0, active: 0, delayed: 0, failed: 0 }
  for (const c of all) {
    total.waiting += (c.waiting ?? 0) + (c.prioritized ?? 0) + (c['waiting-children'] ?? 0)
    total.active += c.active ?? 0
    total.delayed += c.delayed ?? 0
    total.failed += c.failed ?? 0
  }
  return total
}
