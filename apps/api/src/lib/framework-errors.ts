import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes, ErrorMessages, type ErrorCode, type ErrorEnvelope } from '@wss/shared'

/** The error envelope of API.md. */
export const envelope = (code: ErrorCode, error: string = ErrorMessages[code], details?: unknown): ErrorEnvelope =>
  details === undefined ? { success: false, error, code } : { success: false, error, code, details }

// Headers every answer of the server carries, also those written before routing.
export const SECURITY_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } as const

// Raised by the router before any route or hook runs; the URL is not echoed (it may hold anything).
const ROUTER_ERRORS: Record<string, { code: ErrorCode, error: string }> = {
  FST_ERR_BAD_URL: { code: 'BAD_REQUEST', error: 'The URL is not validly percent-encoded' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'URI_TOO_LONG', error: 'A path segment of the URL is longer than 100 characters' }
}

/** Fastify's `frameworkErrors`: router failures answer in the envelope instead of Fastify's own JSON. */
export function frameworkErrors (err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const known = ROUTER_ERRORS[err.code] ?? { code: 'BAD_REQUEST' as const, error: ErrorMessages.BAD_REQUEST }
  void reply.code(ErrorCodes[known.code]).headers(SECURITY_HEADERS).send(envelope(known.code, known.error))
}

function clientErrorCode (err: NodeJS.ErrnoException): ErrorCode {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'REQUEST_TIMEOUT'
  if (err.code === 'HPE_HEADER_OVERFLOW') return 'HEADERS_TOO_LARGE'
  return 'BAD_REQUEST'
}

/**
 * Fastify's `clientErrorHandler` (bound to the instance): errors Node's HTTP parser raises before
 * a request exists (a request not received within REQUEST_TIMEOUT_MS, oversized headers, garbage)
 * answer in the envelope too, then the connection closes.
 */
export function clientErrorHandler (this: { log: FastifyBaseLogger }, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const code = clientErrorCode(err)
  const status = ErrorCodes[code]
  this.log.debug({ code, parserCode: err.code }, 'client error')
  if (socket.writable) {
    const body = JSON.stringify(envelope(code))
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n` +
      `Connection: close\r\n\r\n${body}`)
  }
  socket.destroy(err)
}
