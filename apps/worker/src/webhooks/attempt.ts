import type { Logger } from 'pino'
import type { PrismaClient } from '@wss/db'
import { signDelivery, UrlNotAllowedError, type Resolver, type WebhookJob } from '@wss/webhooks'
import type { EventPublisher } from '../events.ts'
import { metrics } from '../lib/metrics.ts'
import { postWebhook, PostError, type PostAnswer } from './post.ts'
import { retryDelay } from './schedule.ts'

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

/** Thrown to have BullMQ run the job again after `delayMs` (the delivery worker's backoff reads it). */
export class RetryLater extends Error {
  override readonly name = 'RetryLater'
  constructor (readonly delayMs: number, message: string) { super(message) }
}

interface Claimed {
  event: string
  payload: unknown
  created_at: Date
  url: string
  secret: string
  endpoint_id: string
}

type Result = { ok: true, answer: PostAnswer } | { ok: false, answer?: PostAnswer, error: string, refused?: true }

/**
 * One attempt of one delivery: claimed in Postgres before it is sent (attempt `n` is claimed only
 * where `attempts = n - 1`, so a job run again after a worker died cannot send the same attempt
 * twice), sent, and its outcome recorded. A failure to retry throws {@link RetryLater}.
 */
export function createDeliveryAttempts (deps: DeliveryAttemptDeps) {
  const { prisma, log } = deps

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
      await prisma.webhookDelivery.update({ where: { id: deliveryId }, data: { state: 'failed', lastError: 'the endpoint is disabled', nextAttemptAt: null } })
      metrics.webhookDeliveries.inc({ outcome: 'failed' })
      return
    }
    if (row.attempts >= attempt) {
      // Its request may or may not have left: it is not sent again, the next attempt follows the schedule.
      metrics.webhookDeliveries.inc({ outcome: 'lost' })
      await retryOrFail(deliveryId, attempt, { ok: false, error: `attempt ${attempt} was interrupted (its worker stopped)` })
    }
  }

  async function send (deliveryId: string, attempt: number, claimed: Claimed): Promise<Result> {
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

  async function disable (endpointId: string, reason: 'gone' | 'failing'): Promise<void> {
    const { count } = await prisma.webhookEndpoint.updateMany({ where: { id: endpointId, enabled: true }, data: { enabled: false, disabledReason: reason } })
    if (count === 0) return
    log.warn({ webhookId: endpointId, reason }, 'webhook endpoint disabled')
    await deps.endpointsChanged()
    deps.events.publish('webhook-disabled', { webhookId: endpointId, reason })
  }

  const answerFields = (result: Result) => ({ lastStatusCode: result.answer?.status ?? null, lastResponse: result.answer?.excerpt ?? null })

  async function fail (deliveryId: string, result: Result): Promise<void> {
    await prisma.webhookDelivery.update({ where: { id: deliveryId }, data: { state: 'failed', lastError: result.ok ? null : result.error, nextAttemptAt: null, ...answerFields(result) } })
    metrics.webhookDeliveries.inc({ outcome: 'failed' })
  }

  // A failed attempt: the endpoint's failing run starts (or goes on); past the window it is disabled, else the next attempt is scheduled.
  async function retryOrFail (deliveryId: string, attempt: number, result: Result & { ok: false }, endpointId?: string): Promise<void> {
    if (endpointId !== undefined) {
      const [run] = await prisma.$queryRaw<Array<{ expired: boolean }>>`
        UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, now())
        WHERE id = ${endpointId}::uuid RETURNING now() - failing_since >= ${deps.disableAfterMs} * interval '1 millisecond' AS expired`
      if (run?.expired === true) {
        await fail(deliveryId, result)
        await disable(endpointId, 'failing')
        return
      }
    }
    const delay = retryDelay(deps.schedule, attempt)
    if (delay === null) { await fail(deliveryId, result); return }
    await prisma.webhookDelivery.update({
      where: { id: deliveryId },
      data: { lastError: result.error, nextAttemptAt: new Date(Date.now() + delay), ...answerFields(result) }
    })
    metrics.webhookDeliveries.inc({ outcome: 'retry' })
    throw new RetryLater(delay, result.error)
  }

  async function record (deliveryId: string, attempt: number, claimed: Claimed, result: Result): Promise<void> {
    if (result.ok) {
      await prisma.webhookDelivery.update({ where: { id: deliveryId }, data: { state: 'delivered', lastError: null, nextAttemptAt: null, ...answerFields(result) } })
      await prisma.webhookEndpoint.updateMany({ where: { id: claimed.endpoint_id, failingSince: { not: null } }, data: { failingSince: null } })
      metrics.webhookDeliveries.inc({ outcome: 'delivered' })
      return
    }
    if (result.refused === true) { await fail(deliveryId, result); return }
    if (result.answer?.status === 410) {
      await fail(deliveryId, result)
      await disable(claimed.endpoint_id, 'gone')
      return
    }
    await retryOrFail(deliveryId, attempt, result, claimed.endpoint_id)
  }

  return {
    /** Runs attempt `base + attemptsMade + 1` of the job's delivery. */
    async run (job: WebhookJob, attemptsMade: number): Promise<void> {
      const attempt = job.base + attemptsMade + 1
      const claimed = await claim(job.deliveryId, attempt)
      if (claimed === null) { await unclaimed(job.deliveryId, attempt); return }
      await record(job.deliveryId, attempt, claimed, await send(job.deliveryId, attempt, claimed))
    }
  }
}
export type DeliveryAttempts = ReturnType<typeof createDeliveryAttempts>
