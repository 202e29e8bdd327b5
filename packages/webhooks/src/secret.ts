import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'

/** What every endpoint secret starts with (Standard Webhooks' convention). */
export const SECRET_PREFIX = 'whsec_'

/** A new endpoint secret: `whsec_` + base64 of 32 random bytes, the form Standard Webhooks libraries take. */
export function newWebhookSecret (): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64')
}

/** The Standard Webhooks headers of one delivery: `webhook-id`, `webhook-timestamp`, `webhook-signature`. */
export interface SignedHeaders {
  'webhook-id': string
  'webhook-timestamp': string
  'webhook-signature': string
}

/** Signs `body` for `messageId` at `at` with the `standardwebhooks` library (HMAC-SHA256, `v1,<base64>`). */
export function signDelivery (secret: string, messageId: string, at: Date, body: string): SignedHeaders {
  const signature = new Webhook(secret).sign(messageId, at, body)
  return {
    'webhook-id': messageId,
    'webhook-timestamp': Math.floor(at.getTime() / 1000).toString(),
    'webhook-signature': signature
  }
}
