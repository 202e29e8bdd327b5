import { ErrorEnvelopeSchema } from '@wss/shared'
import type { TSchema } from 'typebox'

type ErrorStatus = 400 | 401 | 403 | 404 | 408 | 409 | 413 | 414 | 415 | 422 | 426 | 429 | 431 | 500 | 502 | 503 | 504

/**
 * Response schemas of an `/api` route: its success schemas, the errors every `/api` route can
 * answer (401, 429, 500) and the ones it names. Listing them keeps the docs honest and lets
 * the serializer drop any field a response should not carry.
 */
export function apiResponses<S extends Record<number, TSchema>> (success: S, errors: ErrorStatus[] = []) {
  const out: Record<number, TSchema> = { ...success }
  for (const status of [401, 429, 500, ...errors]) out[status] = ErrorEnvelopeSchema
  return out as S & Record<ErrorStatus, typeof ErrorEnvelopeSchema>
}
