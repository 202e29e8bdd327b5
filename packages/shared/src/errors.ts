/**
 * The coded errors of the API and the HTTP status each one answers with.
 * A code is a stable machine field of the error envelope: never rename one.
 */
export const ErrorCodes = {
  VALIDATION: 400,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  SESSION_NOT_FOUND: 404,
  STATUS_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  PAIRING_CODE_NOT_FOUND: 404,
  KEY_NOT_FOUND: 404,
  WEBHOOK_NOT_FOUND: 404,
  DELIVERY_NOT_FOUND: 404,
  AUDIENCE_LIST_NOT_FOUND: 404,
  URL_NOT_ALLOWED: 400,
  ROUTE_NOT_FOUND: 404,
  SESSION_EXISTS: 409,
  SESSION_NOT_CONNECTED: 409,
  SESSION_ALREADY_CONNECTED: 409,
  SESSION_NOT_PAIRING: 409,
  AUDIENCE_LIST_EXISTS: 409,
  AUDIENCE_LIST_IN_USE: 409,
  NO_CONNECTED_SESSIONS: 409,
  PAYLOAD_TOO_LARGE: 413,
  REQUEST_TIMEOUT: 408,
  URI_TOO_LONG: 414,
  UNSUPPORTED_MEDIA_TYPE: 415,
  SCHEDULED_AT_PAST: 400,
  SCHEDULED_AT_TOO_FAR: 400,
  STATUS_NOT_SCHEDULED: 409,
  IDEMPOTENCY_KEY_REUSED: 422,
  AUDIENCE_TOO_LARGE: 422,
  UPGRADE_REQUIRED: 426,
  RATE_LIMITED: 429,
  UPLOAD_QUOTA_EXCEEDED: 429,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
  WHATSAPP_REFUSED: 502,
  DEPENDENCY_UNAVAILABLE: 503,
  NO_WORKER: 503,
  TOO_MANY_CLIENTS: 503,
  WORKER_TIMEOUT: 504
} as const

/** One of the codes in {@link ErrorCodes}. */
export type ErrorCode = keyof typeof ErrorCodes

/** Default human readable message of each code, used when an error is raised without one. */
export const ErrorMessages: { readonly [K in ErrorCode]: string } = {
  VALIDATION: 'Invalid request',
  BAD_REQUEST: 'Bad request',
  UNAUTHORIZED: 'Missing or invalid API key',
  FORBIDDEN: 'This API key may not do this',
  SESSION_NOT_FOUND: 'Session not found',
  STATUS_NOT_FOUND: 'Status not found',
  FILE_NOT_FOUND: 'File not found',
  PAIRING_CODE_NOT_FOUND: 'No pairing code available',
  KEY_NOT_FOUND: 'API key not found',
  WEBHOOK_NOT_FOUND: 'Webhook endpoint not found',
  DELIVERY_NOT_FOUND: 'Webhook delivery not found',
  AUDIENCE_LIST_NOT_FOUND: 'Audience list not found',
  URL_NOT_ALLOWED: 'The server may not send requests to this URL',
  ROUTE_NOT_FOUND: 'Route not found',
  SESSION_EXISTS: 'A session with this id already exists',
  SESSION_NOT_CONNECTED: 'Session is not connected',
  SESSION_ALREADY_CONNECTED: 'Session is already connected',
  SESSION_NOT_PAIRING: 'Session does not link with a pairing code',
  AUDIENCE_LIST_EXISTS: 'The session already has an audience list with this name',
  AUDIENCE_LIST_IN_USE: 'A status waiting to be sent uses this audience list',
  NO_CONNECTED_SESSIONS: 'None of the sessions this API key may use is connected',
  PAYLOAD_TOO_LARGE: 'Payload too large',
  REQUEST_TIMEOUT: 'The request was not received in time',
  URI_TOO_LONG: 'A path segment of the URL is too long',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported media type',
  SCHEDULED_AT_PAST: 'scheduledAt is not in the future',
  SCHEDULED_AT_TOO_FAR: 'scheduledAt is more than 30 days ahead',
  STATUS_NOT_SCHEDULED: 'The status is no longer scheduled',
  IDEMPOTENCY_KEY_REUSED: 'This Idempotency-Key was already used with a different request',
  AUDIENCE_TOO_LARGE: 'The audience resolved to more recipients than MAX_AUDIENCE',
  UPGRADE_REQUIRED: 'This endpoint only speaks WebSocket',
  RATE_LIMITED: 'Rate limit exceeded',
  UPLOAD_QUOTA_EXCEEDED: 'Upload quota exceeded',
  HEADERS_TOO_LARGE: 'The request headers are too large',
  INTERNAL: 'Internal server error',
  WHATSAPP_REFUSED: 'WhatsApp refused the message',
  DEPENDENCY_UNAVAILABLE: 'A dependency is unavailable',
  NO_WORKER: 'No worker available',
  TOO_MANY_CLIENTS: 'Too many event clients are connected',
  WORKER_TIMEOUT: 'The worker did not answer in time'
}

/** An expected, coded failure; the API's error handler turns it into the error envelope. */
export class AppError extends Error {
  override readonly name = 'AppError'
  readonly code: ErrorCode
  readonly statusCode: number
  readonly details?: unknown

  constructor (code: ErrorCode, message?: string, details?: unknown, options?: { cause?: unknown }) {
    super(message ?? ErrorMessages[code], options)
    this.code = code
    this.statusCode = ErrorCodes[code]
    if (details !== undefined) this.details = details
  }
}

/** True when `value` is an {@link AppError} (also across duplicated module copies). */
export function isAppError (value: unknown): value is AppError {
  return value instanceof AppError ||
    (value instanceof Error && value.name === 'AppError' &&
      typeof (value as AppError).code === 'string' && (value as AppError).code in ErrorCodes)
}
