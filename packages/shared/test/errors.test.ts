import t from 'tap'
import { AppError, ErrorCodes, ErrorMessages, isAppError } from '../src/index.ts'

t.test('AppError carries code, status and details', async t => {
  const err = new AppError('SESSION_NOT_FOUND', 'Session s1 not found', { sessionId: 's1' })
  t.equal(err.statusCode, 404)
  t.equal(err.code, 'SESSION_NOT_FOUND')
  t.equal(err.message, 'Session s1 not found')
  t.same(err.details, { sessionId: 's1' })
  t.ok(err instanceof Error)
  t.ok(isAppError(err))
  t.notOk(isAppError(new Error('x')))
})

t.test('AppError falls back to the code\'s default message', async t => {
  const err = new AppError('WORKER_TIMEOUT')
  t.equal(err.statusCode, 504)
  t.equal(err.message, ErrorMessages.WORKER_TIMEOUT)
  t.equal(err.details, undefined)
})

t.test('the table maps the contract status codes', async t => {
  t.match(ErrorCodes, {
    SESSION_NOT_FOUND: 404,
    SESSION_EXISTS: 409,
    SESSION_NOT_CONNECTED: 409,
    STATUS_NOT_FOUND: 404,
    FILE_NOT_FOUND: 404,
    VALIDATION: 400,
    UNAUTHORIZED: 401,
    FORBIDDEN: 403,
    KEY_NOT_FOUND: 404,
    RATE_LIMITED: 429,
    PAYLOAD_TOO_LARGE: 413,
    UNSUPPORTED_MEDIA_TYPE: 415,
    WHATSAPP_REFUSED: 502,
    DEPENDENCY_UNAVAILABLE: 503,
    NO_WORKER: 503,
    WORKER_TIMEOUT: 504,
    INTERNAL: 500
  })
})
