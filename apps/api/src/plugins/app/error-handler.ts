import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify'
import { ErrorMessages, isAppError, type ErrorCode, type ErrorEnvelope, type ValidationIssue } from '@wss/shared'
import { isRedisUnavailableError } from '../../redis.ts'
import { isDatabaseUnavailableError } from '../../lib/db-errors.ts'
import { envelope } from '../../lib/framework-errors.ts'

interface ErrorResponse { statusCode: number, body: ErrorEnvelope }

/** Turns Ajv's findings into `{ field, message }`, the field spelled `body.phoneNumber`. */
function validationIssues (context: string | undefined, errors: FastifySchemaValidationError[]): ValidationIssue[] {
  return errors.map(e => {
    const path = e.instancePath.split('/').filter(Boolean)
    const params = e.params as Record<string, unknown>
    const missing = params.missingProperty ?? params.additionalProperty
    if (typeof missing === 'string') path.push(missing)
    const field = [context ?? 'request', ...path].join('.')
    const message = params.additionalProperty !== undefined ? 'is not allowed' : e.message ?? 'is invalid'
    return { field, message }
  })
}

// Fastify's and its plugins' 4xx errors carry a statusCode; give each a stable code.
const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  404: 'ROUTE_NOT_FOUND',
  408: 'REQUEST_TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  426: 'UPGRADE_REQUIRED',
  429: 'RATE_LIMITED',
  431: 'HEADERS_TOO_LARGE'
}
const CODE_BY_FASTIFY_CODE: Record<string, { statusCode: number, code: ErrorCode }> = {
  FST_INVALID_MULTIPART_CONTENT_TYPE: { statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE' }
}

/** Maps any thrown value to the status and envelope the client sees. Exported for tests. */
function toErrorResponse (err: unknown): ErrorResponse {
  if (isAppError(err)) {
    return { statusCode: err.statusCode, body: envelope(err.code, err.message, err.details) }
  }
  const fe = err as Partial<FastifyError>
  if (Array.isArray(fe.validation) && fe.validation.length > 0) {
    const details = validationIssues(fe.validationContext, fe.validation)
    const first = details[0]!
    return { statusCode: 400, body: envelope('VALIDATION', `${first.field} ${first.message}`, details) }
  }
  if (isRedisUnavailableError(err) || isDatabaseUnavailableError(err)) {
    return { statusCode: 503, body: envelope('DEPENDENCY_UNAVAILABLE', ErrorMessages.DEPENDENCY_UNAVAILABLE) }
  }
  const known = typeof fe.code === 'string' ? CODE_BY_FASTIFY_CODE[fe.code] : undefined
  if (known !== undefined) {
    return { statusCode: known.statusCode, body: envelope(known.code, fe.message ?? ErrorMessages[known.code]) }
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500
  if (status >= 400 && status < 500) {
    // 4xx messages from Fastify and its plugins describe the request, never the server.
    const code = CODE_BY_STATUS[status] ?? 'BAD_REQUEST'
    return { statusCode: status, body: envelope(code, fe.message || ErrorMessages[code]) }
  }
  return { statusCode: 500, body: envelope('INTERNAL', ErrorMessages.INTERNAL) }
}

/** The 404 for unknown routes, in the envelope. The query string is left out: it may hold a key. */
export async function notFoundHandler (request: FastifyRequest, reply: FastifyReply) {
  const path = request.url.split('?')[0]
  return reply.code(404).send(envelope('ROUTE_NOT_FOUND', `Route ${request.method} ${path} not found`))
}

/** The one root error handler: every error becomes the envelope; 5xx are logged, and masked unless coded. */
export default fp(async function errorHandler (fastify) {
  fastify.setErrorHandler(function (err, request, reply) {
    const { statusCode, body } = toErrorResponse(err)
    if (statusCode >= 500) {
      request.log.error({ err, code: body.code }, 'request failed')
    } else {
      request.log.info({ code: body.code, statusCode }, 'request rejected')
    }
    return reply.code(statusCode).send(body)
  })
  fastify.setNotFoundHandler(notFoundHandler)
}, { name: 'error-handler' })
