import type { Logger } from 'pino'
import type { PrismaClient } from '@wss/db'
import { signDelivery, UrlNotAllowedError, type Resolver, type WebhookJob } from '@wss/webhooks'
import type { EventPublisher } from '../events.ts'
import { metrics } from '../lib/metrics.ts'
import { postWebhook, PostError } from './post.ts'
import { createDeliveryOutcomes, type AttemptResult } from './outcome.ts'

export interface DeliveryAttemptDeps {
  prisma: PrismaClient
  events: EventPublisher
  /** Tells every process that the endpoint list changed (an endpoint was disabled). */
  endpointsChanged: () => Promise<void>
  schedule: readonly number[]
  disableAfterMs: number
  timeoutMs: number
  allowPrivate: boolean
  resolve?: Resolver
  log: Logger
}

export { RetryLater } from './outcome.ts'

interface Claimed {
  event: string
  payload: unknown
  created_at: Date
  url: string
  secret: string
  endpoint_id: string
}

/**
 * One attempt of one delivery: claimed in Postgres before it is sent (attempt `n` is claimed only
 * where `attempts = n - 1`, so a job run again after a worker died cannot send the same attempt
 * twice), sent, and its outcome recorded. A failure to retry throws {@link RetryLater}.
 */
export function createDeliveryAttempts (deps: DeliveryAttemptDeps) {
  const { prisma } = deps
  const { fail, retryOrFail, record } = createDeliveryOutcomes(deps)

  async function claim (deliveryId: string, attempt: number): Promise<Claimed | null> {
    const rows = await prisma.$queryRaw<Claimed[]>`
      UPDATE webhook_deliveries d SET attempts = ${attempt}, last_attempt_at = now(), next_attempt_at = NULL
      FROM webhook_endpoints e
      WHERE d.id = ${deliveryId}::uuid AND d.state = 'pending' AND d.attempts = ${attempt - 1} AND e.id = d.endpoint_id AND e.enabled
      RETURNING d.event, d.payload, d.created_at, e.url, e.secret, e.id AS endpoint_id`
    return rows[0] ?? null
  }

  // Why a claim failed: the delivery ended (or is gone), its endpoint is disabled, or an earlier run claimed this attempt and died.
  async function unclaimed (deliveryId: string, attempt: number): Promise<void> {
    const rows = await prisma.$queryRaw<Array<{ state: string, attempts: number, enabled: boolean }>>`
      SELECT d.state::text AS state, d.attempts, e.enabled FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = ${deliveryId}::uuid`
    const row = rows[0]
    if (row === undefined || row.state !== 'pending') return
    if (!row.enabled) {
      await fail(deliveryId, { ok: false, error: 'the endpoint is disabled' })
      return
    }
    if (row.attempts >= attempt) {
      // Its request may or may not have left: it is not sent again, the next attempt follows the schedule.
      metrics.webhookDeliveries.inc({ outcome: 'lost' })
      await retryOrFail(deliveryId, attempt, { ok: false, error: `attempt ${attempt} was interrupted (its worker stopped)` })
    }
  }

  async function send (deliveryId: string, attempt: number, claimed: Claimed): Promise<AttemptResult> {
    const body = JSON.stringify({ type: claimed.event, timestamp: claimed.created_at.toISOString(), data: claimed.payload })
    const headers = { ...signDelivery(claimed.secret, deliveryId, new Date(), body), 'webhook-attempt': attempt.toString() }
    const stop = metrics.webhookLatency.startTimer()
    try {
      const answer = await postWebhook(claimed.url, body, headers, deps)
      return answer.status >= 200 && answer.status < 300 ? { ok: true, answer } : { ok: false, answer, error: `the endpoint answered HTTP ${answer.status}` }
    } catch (err) {
      if (err instanceof UrlNotAllowedError) return { ok: false, error: err.message, refused: true }
      if (err instanceof PostError) return { ok: false, error: err.message }
      throw err
    } finally {
      stop()
    }
  }

  return {
    /** Runs attempt `base + attemptsMade + 1` of the job's delivery. */
    async run (job: WebhookJob, attemptsMade: number): Promise<void> {
      const attempt = job.base + attemptsMade + 1
      const claimed = await claim(job.deliveryId, attempt)
      if (claimed === null) { await unclaimed(job.deliveryId, attempt); return }
      await record(job.deliveryId, attempt, claimed.endpoint_id, await send(job.deliveryId, attempt, claimed))
    }
  }
}
export type DeliveryAttempts = ReturnType<typeof createDeliveryAttempts>
