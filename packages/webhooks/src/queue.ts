import { Type, type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import type { JobsOptions } from 'bullmq'

/** The BullMQ queue of webhook deliveries (under the deployment's BullMQ prefix). */
export const WEBHOOK_QUEUE = 'webhooks'

/** The name of the custom backoff the delivery worker computes (the retry schedule, jittered). */
export const WEBHOOK_BACKOFF = 'webhook-schedule'

/** A delivery job: the delivery row, and the attempts it had before this job (a redelivery starts past them). */
export const WebhookJobSchema = Type.Object({
  deliveryId: Type.String({ format: 'uuid' }),
  base: Type.Integer({ minimum: 0 })
})
export type WebhookJob = Static<typeof WebhookJobSchema>

const check = Compile(WebhookJobSchema)

/** Validates a job's data as it comes out of Redis; null when it is not a delivery job. */
export function parseWebhookJob (data: unknown): WebhookJob | null {
  return check.Check(data) ? data : null
}

/**
 * Every delivery job's options. The worker decides when a delivery has had its last attempt (its
 * retry schedule); `attempts` is only a ceiling. Finished jobs leave Redis: the row is the record.
 */
export const WEBHOOK_JOB_OPTIONS: JobsOptions = {
  attempts: 100,
  backoff: { type: WEBHOOK_BACKOFF },
  removeOnComplete: true,
  removeOnFail: true
}
