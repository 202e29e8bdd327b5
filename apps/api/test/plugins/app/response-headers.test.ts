import t from 'tap'
import { auth, build } from '../../helper.ts'

t.test('every /api answer says no-store and nosniff, errors included', async t => {
  const app = await build(t, { env: { RATE_LIMIT_MAX: '3' } })
  const answers = [
    await app.inject({ method: 'GET', url: '/api/sessions/x/nothing', headers: auth }),
    await app.inject({ method: 'GET', url: '/api/health' }),
    await app.inject({ method: 'POST', url: '/api/upload-image', headers: { ...auth, 'content-type': 'text/plain' }, payload: 'x' }),
    await app.inject({ method: 'GET', url: '/api/health', headers: auth }),
    await app.inject({ method: 'GET', url: '/readyz' })
  ]
  t.same(answers.map(res => res.statusCode), [404, 401, 415, 429, 200])
  for (const res of answers) {
    t.equal(res.headers['cache-control'], 'no-store', String(res.statusCode))
    t.equal(res.headers['x-content-type-options'], 'nosniff', String(res.statusCode))
  }
})

t.test('CORS: no headers without CORS_ORIGINS', async t => {
  const app = await build(t)
  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/api/sessions',
    headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' }
  })
  t.equal(preflight.headers['access-control-allow-origin'], undefined)
  const res = await app.inject({ method: 'GET', url: '/api/nothing', headers: { ...auth, origin: 'https://app.example.com' } })
  t.equal(res.headers['access-control-allow-origin'], undefined)
})

t.test('CORS: the listed origins only; preflight needs no key, the request does', async t => {
  const app = await build(t, { env: { CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' } })
  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/api/sessions',
    headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key,content-type' }
  })
  t.equal(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com')
  t.match(preflight.headers['access-control-allow-headers'], /x-api-key/)

  const listed = await app.inject({ method: 'GET', url: '/api/nothing', headers: { ...auth, origin: 'http://localhost:5173' } })
  t.equal(listed.headers['access-control-allow-origin'], 'http://localhost:5173')
  const unauthenticated = await app.inject({ method: 'GET', url: '/api/nothing', headers: { origin: 'http://localhost:5173' } })
  t.equal(unauthenticated.statusCode, 401)

  const other = await app.inject({ method: 'GET', url: '/api/nothing', headers: { ...auth, origin: 'https://evil.example' } })
  t.equal(other.headers['access-control-allow-origin'], undefined)
})
