import type { AppError } from '@wss/shared'

/**
 * A refusal that may pass by itself: the session is reconnecting, or its connection dropped
 * while a send was being written. The command is retried like a transient failure (BullMQ's
 * attempts and backoff); once every attempt failed, the caller gets the refusal itself and a send
 * is marked failed, so it never stays pending behind a 202.
 */
export class TransientRefusal extends Error {
  override readonly name = 'TransientRefusal'
  constructor (readonly refusal: AppError) { super(refusal.message) }
}
