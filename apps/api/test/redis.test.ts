import t from 'tap'
import { build, KEY, settlesWithin } from './helper.ts'

// A closed port stands in for a Redis outage without disturbing the shared Redis.
const DOWN = { REDIS_URL: 'redis://127.0.0.1:6390' }

t.test('Redis down: a Redis-dependent request answers 503 fast', async t => {
  const app = await build(t, {
    env: DOWN,
    redisDown: true,
    extend: fastify => {
      fastify.get('/test/uses-redis', async () => ({ value: await fastify.redis.get('anything') }))
    }
  })
  // Redis never comes back on this port: a request that waited for it would never be answered.
  const res = await settlesWithin(app.inject({ method: 'GET', url: '/test/uses-redis' }), 10_000)
  t.equal(res.statusCode, 503)
  t.same(res.json(), { success: false, error: 'A dependency is unavailable', code: 'DEPENDENCY_UNAVAILABLE' })
  t.equal(app.redis.status === 'ready', false, 'answered while Redis is still down')
})

t.test('Redis down: /readyz is 503 naming redis, quickly', async t => {
  const app = await build(t, { env: DOWN, redisDown: true })
  const res = await settlesWithin(app.inject({ method: 'GET', url: '/readyz' }), 10_000)
  t.equal(res.statusCode, 503)
  t.same(res.json(), { status: 'unavailable', checks: { database: 'ok', redis: 'down' } }, 'the database really answered')
})

t.test('Redis down: the rate limiter lets /api requests through', async t => {
  const app = await build(t, { env: DOWN, redisDown: true })
  const res = await app.inject({ method: 'GET', url: '/api/nothing-here', headers: { 'x-api-key': KEY } })
  t.equal(res.statusCode, 404, 'reaches routing instead of failing on the counter')
  const noKey = await app.inject({ method: 'GET', url: '/api/nothing-here' })
  t.equal(noKey.statusCode, 401, 'auth still applies')
})

t.test('Redis Cluster down: a Redis-dependent request answers 503 fast, /readyz names redis', async t => {
  const app = await build(t, {
    env: { REDIS_URL: 'redis+cluster://127.0.0.1:6390,127.0.0.1:6391' },
    redisDown: true,
    extend: fastify => {
      fastify.get('/test/uses-redis', async () => ({ value: await fastify.redis.get('anything') }))
    }
  })
  const res = await settlesWithin(app.inject({ method: 'GET', url: '/test/uses-redis' }), 10_000)
  t.equal(res.statusCode, 503)
  t.same(res.json(), { success: false, error: 'A dependency is unavailable', code: 'DEPENDENCY_UNAVAILABLE' })
  const ready = await settlesWithin(app.inject({ method: 'GET', url: '/readyz' }), 10_000)
  t.equal(ready.statusCode, 503)
  t.match(ready.json(), { checks: { redis: 'down' } })
})
