import t from 'tap'
import { Type } from 'typebox'
import type { FastifyInstance } from 'fastify'
import { AppError, Ok, SessionIdSchema } from '@wss/shared'
import { build, KEY } from '../../helper.ts'

const auth = { 'x-api-key': KEY }

// Test-only routes, registered the way real routes are, to provoke each kind of failure.
async function failingRoutes (fastify: FastifyInstance) {
  fastify.post('/test/validate', {
    schema: {
      body: Type.Object({ sessionId: SessionIdSchema, sessionName: Type.String({ minLength: 1 }) }),
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1 })) }),
      response: { 200: Ok(Type.Object({ sessionId: Type.String() })) }
    }
  }, async request => ({ success: true as const, data: { sessionId: (request.body as { sessionId: string }).sessionId } }))
  fastify.get('/test/crash', async () => {
    throw new Error('connect ECONNRESET postgres://admin:hunter2@db.internal/wss')
  })
  fastify.get('/test/crash-later', async () => {
    await new Promise(resolve => setImmediate(resolve))
    throw new TypeError("Cannot read properties of undefined (reading 'secretField')")
  })
  fastify.get('/test/coded', async () => {
    throw new AppError('SESSION_NOT_FOUND', 'Session shop-1 not found', { sessionId: 'shop-1' })
  })
  fastify.get('/test/coded-5xx', async () => {
    throw new AppError('WORKER_TIMEOUT')
  })
}

t.test('unknown /api route: 404 in the envelope', async t => {
  const app = await build(t)
  for (const method of ['GET', 'POST', 'DELETE'] as const) {
    const res = await app.inject({ method, url: '/api/sessions/x/nothing?apiKey=secret', headers: auth })
    t.equal(res.statusCode, 404, method)
    t.match(res.headers['content-type'], /application\/json/)
    t.same(res.json(), { success: false, error: `Route ${method} /api/sessions/x/nothing not found`, code: 'ROUTE_NOT_FOUND' })
  }
  const outside = await app.inject({ method: 'GET', url: '/nope' })
  t.equal(outside.statusCode, 404)
  t.equal(outside.json().success, false, 'JSON envelope outside /api too')
})

t.test('validation failure: 400 naming the field, code VALIDATION, details', async t => {
  const app = await build(t, { extend: failingRoutes })
  const bad = await app.inject({ method: 'POST', url: '/test/validate', payload: { sessionId: 'no spaces allowed', sessionName: 'x' } })
  t.equal(bad.statusCode, 400)
  const body = bad.json()
  t.equal(body.success, false)
  t.equal(body.code, 'VALIDATION')
  t.match(body.error, /^body\.sessionId /)
  t.same(body.details, [{ field: 'body.sessionId', message: 'must match pattern "^[A-Za-z0-9_-]{1,64}$"' }])

  const missing = await app.inject({ method: 'POST', url: '/test/validate', payload: { sessionId: 'ok' } })
  t.equal(missing.statusCode, 400)
  t.same(missing.json().details, [{ field: 'body.sessionName', message: "must have required property 'sessionName'" }])

  const query = await app.inject({ method: 'POST', url: '/test/validate?limit=0', payload: { sessionId: 'ok', sessionName: 'x' } })
  t.equal(query.statusCode, 400)
  t.equal(query.json().details[0].field, 'querystring.limit')

  const good = await app.inject({ method: 'POST', url: '/test/validate', payload: { sessionId: 'ok', sessionName: 'x' } })
  t.same(good.json(), { success: true, data: { sessionId: 'ok' } })
})

t.test('malformed, oversized and wrongly typed bodies', async t => {
  const app = await build(t, { extend: failingRoutes })
  const malformed = await app.inject({ method: 'POST', url: '/test/validate', headers: { 'content-type': 'application/json' }, payload: '{"sessionId":' })
  t.equal(malformed.statusCode, 400)
  t.match(malformed.json(), { success: false, code: 'BAD_REQUEST' })

  const huge = await app.inject({ method: 'POST', url: '/test/validate', payload: { sessionId: 'ok', sessionName: 'x'.repeat(2 * 1024 * 1024) } })
  t.equal(huge.statusCode, 413)
  t.match(huge.json(), { success: false, code: 'PAYLOAD_TOO_LARGE' })

  const xml = await app.inject({ method: 'POST', url: '/test/validate', headers: { 'content-type': 'application/xml' }, payload: '<a/>' })
  t.equal(xml.statusCode, 415)
  t.match(xml.json(), { success: false, code: 'UNSUPPORTED_MEDIA_TYPE' })
})

t.test('a thrown error is 500, masked, and leaks nothing', async t => {
  const app = await build(t, { extend: failingRoutes })
  for (const url of ['/test/crash', '/test/crash-later']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 500, url)
    t.same(res.json(), { success: false, error: 'Internal server error', code: 'INTERNAL' })
    t.notMatch(res.body, /hunter2|secretField|stack|\.ts:|at /, 'no message, path or stack')
  }
})

t.test('coded errors keep their status, message and details', async t => {
  const app = await build(t, { extend: failingRoutes })
  const notFound = await app.inject({ method: 'GET', url: '/test/coded' })
  t.equal(notFound.statusCode, 404)
  t.same(notFound.json(), { success: false, error: 'Session shop-1 not found', code: 'SESSION_NOT_FOUND', details: { sessionId: 'shop-1' } })

  const timeout = await app.inject({ method: 'GET', url: '/test/coded-5xx' })
  t.equal(timeout.statusCode, 504)
  t.same(timeout.json(), { success: false, error: 'The worker did not answer in time', code: 'WORKER_TIMEOUT' })
})
