import t from 'tap'
import { build, KEY, ROTATED_KEY } from '../../helper.ts'

// Any /api path exercises the hook; an unknown one answers 404 once the key is accepted.
const url = '/api/does-not-exist'

t.test('no key: 401 in the envelope', async t => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url })
  t.equal(res.statusCode, 401)
  t.match(res.headers['content-type'], /application\/json/)
  t.same(res.json(), { success: false, error: 'Missing or invalid API key', code: 'UNAUTHORIZED' })
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api"')
})

t.test('wrong key: 401, in either header form', async t => {
  const app = await build(t)
  for (const headers of [
    { 'x-api-key': 'wrong' },
    { 'x-api-key': KEY.slice(0, -1) },
    { 'x-api-key': `${KEY}x` },
    { authorization: 'Bearer wrong' },
    { authorization: KEY },
    { authorization: `Basic ${KEY}` }
  ]) {
    const res = await app.inject({ method: 'GET', url, headers })
    t.equal(res.statusCode, 401, JSON.stringify(headers))
    t.equal(res.json().code, 'UNAUTHORIZED')
  }
})

t.test('the right key passes in either header form', async t => {
  const app = await build(t)
  const viaHeader = await app.inject({ method: 'GET', url, headers: { 'x-api-key': KEY } })
  t.equal(viaHeader.statusCode, 404, 'x-api-key')
  const viaBearer = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${KEY}` } })
  t.equal(viaBearer.statusCode, 404, 'Authorization: Bearer')
  const lowerScheme = await app.inject({ method: 'GET', url, headers: { authorization: `bearer ${KEY}` } })
  t.equal(lowerScheme.statusCode, 404, 'scheme is case-insensitive')
})

t.test('the x-api-key header name in any case; an empty or repeated one does not pass', async t => {
  const app = await build(t)
  for (const name of ['X-API-Key', 'X-Api-Key', 'x-api-key']) {
    const res = await app.inject({ method: 'GET', url, headers: { [name]: KEY } })
    t.equal(res.statusCode, 404, name)
  }
  const twice = await app.inject({ method: 'GET', url, headers: { 'x-api-key': [KEY, KEY] } })
  t.equal(twice.statusCode, 401, 'sent twice: refused, as before reading raw headers')
  const empty = await app.inject({ method: 'GET', url, headers: { 'x-api-key': '', authorization: `Bearer ${KEY}` } })
  t.equal(empty.statusCode, 404, 'an empty x-api-key leaves the Bearer token to decide')
})

t.test('a rotated second key works alongside the first', async t => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url, headers: { 'x-api-key': ROTATED_KEY } })
  t.equal(res.statusCode, 404)
  const bearer = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${ROTATED_KEY}` } })
  t.equal(bearer.statusCode, 404)
})

t.test('?apiKey= is accepted on /api/events only', async t => {
  const app = await build(t)
  const events = await app.inject({ method: 'GET', url: `/api/events?apiKey=${ROTATED_KEY}` })
  t.equal(events.statusCode, 426, 'accepted, then told to upgrade')
  const other = await app.inject({ method: 'GET', url: `${url}?apiKey=${KEY}` })
  t.equal(other.statusCode, 401, 'not on other routes')
  const wrong = await app.inject({ method: 'GET', url: '/api/events?apiKey=nope' })
  t.equal(wrong.statusCode, 401)
})

t.test('probes and docs need no key', async t => {
  const app = await build(t)
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/docs/json' })).statusCode, 200)
})
