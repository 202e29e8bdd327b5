import t from 'tap'
import { build, settlesWithin } from '../helper.ts'

// Nothing listens here: a real client gets a real refusal.
const CLOSED_DATABASE = 'postgresql://postgres@127.0.0.1:5439/postgres'

t.test('/healthz is 200 without touching dependencies', async t => {
  const app = await build(t, { databaseUrl: CLOSED_DATABASE })
  const res = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ok' })
})

t.test('/readyz is 200 when the database and Redis answer', async t => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ready', checks: { database: 'ok', redis: 'ok' } })
})

t.test('/readyz is 503 naming the database when it refuses connections', async t => {
  const app = await build(t, { databaseUrl: CLOSED_DATABASE })
  const res = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { status: 'unavailable', checks: { database: 'down', redis: 'ok' } })
  t.notMatch(res.body, /ECONNREFUSED/, 'the reason stays in the logs')
})

t.test('/readyz does not hang on a database check that never answers', async t => {
  const app = await build(t, { checkDatabase: () => new Promise(() => {}) })
  // The check never settles: only the probe's own timeout can answer.
  const res = await settlesWithin(app.inject({ method: 'GET', url: '/readyz' }), 10_000)
  t.equal(res.statusCode, 503)
  t.equal(res.json().checks.database, 'down')
})

t.test('/readyz is 503 once the node is marked unready for shutdown', async t => {
  const app = await build(t)
  app.readiness.markUnready()
  const res = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { status: 'shutting_down', checks: { database: 'ok', redis: 'ok' } })
})

t.test('/readyz: concurrent probes share one check, and an answer is reused for about a second', async t => {
  let checks = 0
  const app = await build(t, { checkDatabase: async () => { checks++; await new Promise(resolve => setTimeout(resolve, 50)) } })
  const burst = await Promise.all(Array.from({ length: 20 }, () => app.inject({ method: 'GET', url: '/readyz' })))
  t.ok(burst.every(res => res.statusCode === 200))
  t.equal(checks, 1, 'twenty probes, one database check')
  await new Promise(resolve => setTimeout(resolve, 1100))
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  t.equal(checks, 2, 'checked again once the answer is stale')
})
