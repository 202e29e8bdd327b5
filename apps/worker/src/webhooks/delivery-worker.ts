import { UnrecoverableError, Worker } from 'bullmq'
import type { RedisClient } from '@wss/shared'
import type { Logger } from 'pino'
import { parseWebhookJob, WEBHOOK_QUEUE } from '@wss/webhooks'
import { RetryLater, type DeliveryAttempts } from './attempt.ts'

export interface DeliveryWorkerDeps {
  connection: RedisClient
  bullPrefix: string
  concurrency: number
  attempts: DeliveryAttempts
  log: Logger
}

/**
 * The `webhooks` queue, consumed by every worker process. A failed attempt to retry throws
 * {@link RetryLater}: BullMQ keeps the job (in Redis, so restarts lose nothing) and runs it again
 * after the delay the attempt chose and stored as the delivery's `nextAttemptAt`.
 */
export function createDeliveryWorker (deps: DeliveryWorkerDeps) {
  const worker = new Worker(WEBHOOK_QUEUE, async job => {
    const data = parseWebhookJob(job.data)
    if (data === null) throw new UnrecoverableError('not a webhook delivery job')
    await deps.attempts.run(data, job.attemptsMade)
  }, {
    connection: deps.connection,
    prefix: deps.bullPrefix,
    concurrency: deps.concurrency,
    autorun: false,
    // An attempt is bounded by WEBHOOK_TIMEOUT_MS; a job still locked past this was lost with its worker.
    lockDuration: 60_000,
    stalledInterval: 15_000,
    // A job whose worker died is run again; its claimed attempt is not resent (see attempt.ts).
    maxStalledCount: 10,
    settings: {
      backoffStrategy: (_attemptsMade: number, _type?: string, err?: Error) => err instanceof RetryLater ? err.delayMs : 5000
    }
  })
  worker.on('error', err => deps.log.debug({ err: err.message }, 'webhook queue error'))
  worker.on('failed', (job, err) => {
    if (!(err instanceof RetryLater)) deps.log.warn({ err: err.message, jobId: job?.id }, 'webhook delivery job failed')
  })
  return {
    start () { void worker.run() },
    /** Stops taking deliveries and waits for the ones being sent. */
    close () { return worker.close() }
  }
}
