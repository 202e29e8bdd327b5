import { Queue } from 'bullmq'
import type { RedisClient } from '@wss/shared'
import { workerQueueName } from '@wss/shared'

/** Producers of the workers' command queues, one per worker id, kept until closed. */
export function createQueueProducers (connection: RedisClient, bullPrefix: string) {
  const queues = new Map<string, Queue>()
  return {
    /** The producer of a worker's command queue. */
    of (workerId: string): Queue {
      let q = queues.get(workerId)
      if (!q) {
        q = new Queue(workerQueueName(workerId), { connection, prefix: bullPrefix })
        queues.set(workerId, q)
      }
      return q
    },
    /** A queue used once (a dead worker's, while it is reaped): the caller closes it. */
    transient (workerId: string): Queue {
      return new Queue(workerQueueName(workerId), { connection, prefix: bullPrefix })
    },
    async close () {
      const all = [...queues.values()]
      queues.clear()
      await Promise.all(all.map(q => q.close()))
    }
  }
}
export type QueueProducers = ReturnType<typeof createQueueProducers>
