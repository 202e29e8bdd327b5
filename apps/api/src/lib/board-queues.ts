import type { FastifyBaseLogger } from 'fastify'
import { Queue } from 'bullmq'
import type { RedisClient } from '@wss/shared'
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter'
import { redisKeys, SCHEDULE_QUEUE, workerQueueName, type OwnerRegistry } from '@wss/shared'
import { WEBHOOK_QUEUE } from '@wss/webhooks'

export interface BoardQueuesDeps {
  owners: Pick<OwnerRegistry, 'liveWorkers'>
  /** Connection the dashboard's queue handles share (fail-fast, like the command bus's). */
  connection: RedisClient
  /** REDIS_PREFIX; the queues live under its BullMQ prefix. */
  prefix: string
  readOnly: boolean
  /** Bull Board's `replaceQueues`. */
  replaceQueues: (adapters: BullMQAdapter[]) => void
  log: FastifyBaseLogger
  /** A refresh within this long of the last one is skipped. */
  minIntervalMs?: number
}

/** The deployment-wide queues, shown whatever workers are up: scheduled statuses' delayed jobs, webhook deliveries. */
export const DEPLOYMENT_QUEUES = [SCHEDULE_QUEUE, WEBHOOK_QUEUE] as const

/**
 * The dashboard's queue list: the deployment-wide queues, then, following the worker registry,
 * each live worker's command queue, added when a worker appears and dropped when its lease lapses.
 * Refreshed per dashboard request, at most once per `minIntervalMs`; concurrent calls share one.
 */
export function createBoardQueues (deps: BoardQueuesDeps) {
  const { owners, connection, log } = deps
  const bull = redisKeys(deps.prefix).bull
  const minIntervalMs = deps.minIntervalMs ?? 1000
  const shown = new Map<string, { queue: Queue, adapter: BullMQAdapter }>()
  const open = (name: string, workerId?: string) => {
    const queue = new Queue(name, { connection, prefix: bull })
    queue.on('error', (err: Error) => log.warn({ err, queue: name, workerId }, 'dashboard queue error'))
    return { queue, adapter: new BullMQAdapter(queue, { readOnlyMode: deps.readOnly }) }
  }
  const fixed = DEPLOYMENT_QUEUES.map(name => open(name))
  let running: Promise<void> | null = null
  let last = 0
  let closed = false

  async function update (): Promise<void> {
    const live = new Set((await owners.liveWorkers()).map(w => w.id))
    if (closed) return
    for (const [id, entry] of shown) {
      if (live.has(id)) continue
      shown.delete(id)
      entry.queue.close().catch(() => {})
    }
    for (const id of live) {
      if (shown.has(id)) continue
      shown.set(id, open(workerQueueName(id), id))
    }
    deps.replaceQueues([...fixed, ...shown.values()].map(e => e.adapter))
    last = Date.now()
  }

  return {
    /** Brings the list up to date; keeps the current one when the registry cannot be read. */
    async refresh (): Promise<void> {
      if (closed || Date.now() - last < minIntervalMs) return
      running ??= update()
        .catch((err: unknown) => log.warn({ err }, 'dashboard queue list not refreshed'))
        .finally(() => { running = null })
      await running
    },
    async close (): Promise<void> {
      closed = true
      const all = [...fixed, ...shown.values()]
      shown.clear()
      await Promise.allSettled(all.map(e => e.queue.close()))
    }
  }
}

export type BoardQueues = ReturnType<typeof createBoardQueues>
