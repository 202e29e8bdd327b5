import t from 'tap'
import { build } from '../../helper.ts'

t.test('/docs/json lists the routes with the API key security scheme', async t => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const doc = res.json()
  t.match(doc.openapi, /^3\./)
  t.same(doc.components.securitySchemes, {
    apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
    bearerAuth: { type: 'http', scheme: 'bearer' }
  })
  t.ok(doc.paths['/healthz']?.get, '/healthz')
  t.ok(doc.paths['/readyz']?.get, '/readyz')
  t.same(Object.keys(doc.paths['/readyz'].get.responses).sort(), ['200', '503'])

  const events = doc.paths['/api/events']?.get
  t.ok(events, '/api/events')
  t.same(events.security, [{ apiKey: [] }, { bearerAuth: [] }], '/api routes require the key')
  t.ok(events.responses['401'] && events.responses['429'], 'documents 401 and 429')
  t.equal(doc.paths['/healthz'].get.security, undefined, 'probes are public')
  t.notOk(Object.keys(doc.paths).some((p: string) => p.startsWith('/docs')), 'the docs do not list themselves')
})

t.test('/docs serves the UI', async t => {
  const app = await build(t)
  const page = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.body, /swagger/i)
})

t.test('the OpenAPI document lists every error code, the hardening ones included', async t => {
  const app = await build(t)
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
  for (const code of ['IDEMPOTENCY_KEY_REUSED', 'UPLOAD_QUOTA_EXCEEDED', 'TOO_MANY_CLIENTS', 'REQUEST_TIMEOUT', 'HEADERS_TOO_LARGE', 'URI_TOO_LONG']) {
    t.match(doc.info.description, code, code)
  }
  t.ok(doc.paths['/api/sessions/{sessionId}/send-status'].post.responses['422'], 'send-status documents 422')
})
