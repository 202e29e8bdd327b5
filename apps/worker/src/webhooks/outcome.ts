import type { DeliveryAttemptDeps } from './attempt.ts'
import { metrics } from '../lib/metrics.ts'
import type { PostAnswer } from './post.ts'
import { retryDelay } from './schedule.ts'

/** What one attempt came to: an answer (2xx or not), or an error (no answer, or refused by the address policy). */
export type AttemptResult = { ok: true, answer: PostAnswer } | { ok: false, answer?: PostAnswer, error: string, refused?: true }

/** Thrown to have BullMQ run the job again after `delayMs` (the delivery worker's backoff reads it). */
export class RetryLater extends Error {
  override readonly name = 'RetryLater'
  constructor (readonly delayMs: number, message: string) { super(message) }
}

/**
 * What an attempt's outcome does to its delivery and endpoint: delivered; failed for good (410
 * disables the endpoint); or failed again, which starts or extends the endpoint's failing run
 * (past WEBHOOK_DISABLE_AFTER_MS the endpoint is disabled) and schedules the next attempt.
 */
export function createDeliveryOutcomes (deps: Omit<DeliveryAttemptDeps, 'resolve' | 'timeoutMs' | 'allowPrivate'>) {
  const { prisma, log } = deps

  async function disable (endpointId: string, reason: 'gone' | 'failing'): Promise<void> {
    const { count } = await prisma.webhookEndpoint.updateMany({ where: { id: endpointId, enabled: true }, data: { enabled: false, disabledReason: reason } })
    if (count === 0) return
    log.warn({ webhookId: endpointId, reason }, 'webhook endpoint disabled')
    await deps.endpointsChanged()
    deps.events.publish('webhook-disabled', { webhookId: endpointId, reason })
  }

  const answerFields = (result: AttemptResult) => ({ lastStatusCode: result.answer?.status ?? null, lastResponse: result.answer?.excerpt ?? null })

  async function fail (deliveryId: string, result: AttemptResult): Promise<void> {
    await prisma.webhookDelivery.update({ where: { id: deliveryId }, data: { state: 'failed', lastError: result.ok ? null : result.error, nextAttemptAt: null, ...answerFields(result) } })
    metrics.webhookDeliveries.inc({ outcome: 'failed' })
  }

  // A failed attempt: the endpoint's failing run starts (or goes on); past the window it is disabled, else the next attempt is scheduled.
  async function retryOrFail (deliveryId: string, attempt: number, result: AttemptResult & { ok: false }, endpointId?: string): Promise<void> {
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

  async function record (deliveryId: string, attempt: number, endpointId: string, result: AttemptResult): Promise<void> {
    if (result.ok) {
      await prisma.webhookDelivery.update({ where: { id: deliveryId }, data: { state: 'delivered', lastError: null, nextAttemptAt: null, ...answerFields(result) } })
      await prisma.webhookEndpoint.updateMany({ where: { id: endpointId, failingSince: { not: null } }, data: { failingSince: null } })
      metrics.webhookDeliveries.inc({ outcome: 'delivered' })
      return
    }
    if (result.refused === true) { await fail(deliveryId, result); return }
    if (result.answer?.status === 410) {
      await fail(deliveryId, result)
      await disable(endpointId, 'gone')
      return
    }
    await retryOrFail(deliveryId, attempt, result, endpointId)
  }

  return { fail, retryOrFail, record }
}
