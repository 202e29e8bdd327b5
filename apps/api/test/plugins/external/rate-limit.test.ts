import t from 'tap'
import { isCluster, redisKeys } from '@wss/shared'
import { build, createPublisher, eventually, KEY, uniquePrefix } from '../../helper.ts'

const auth = { 'x-api-key': KEY }
const url = '/api/nothing-here'

t.test('with RATE_LIMIT_SYNC_MS=0, two app instances sharing Redis share one counter per IP, request by request', async t => {
  const env = { REDIS_PREFIX: uniquePrefix(), RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000', RATE_LIMIT_SYNC_MS: '0' }
  const nodeA = await build(t, { env })
  const nodeB = await build(t, { env })

  const first = await nodeA.inject({ method: 'GET', url, headers: auth })
  t.equal(first.statusCode, 404)
  t.equal(first.headers['x-ratelimit-limit'], '3')
  t.equal(first.headers['x-ratelimit-remaining'], '2')
  t.equal((await nodeB.inject({ method: 'GET', url, headers: auth })).headers['x-ratelimit-remaining'], '1', 'node B sees node A\'s request')
  t.equal((await nodeA.inject({ method: 'GET', url, headers: auth })).headers['x-ratelimit-remaining'], '0')

  const limited = await nodeB.inject({ method: 'GET', url, headers: auth })
  t.equal(limited.statusCode, 429)
  t.match(limited.headers['content-type'], /application\/json/)
  const body = limited.json()
  t.match(body, { success: false, code: 'RATE_LIMITED', error: /^Rate limit exceeded, retry in / })
  t.equal(body.details.limit, 3)
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(retryAfter > 0 && retryAfter <= 60, `retry-after ${retryAfter}`)
  t.equal(limited.headers['x-ratelimit-limit'], '3')
  t.equal(limited.headers['x-ratelimit-remaining'], '0')
  t.ok(Number(limited.headers['x-ratelimit-reset']) > 0, 'x-ratelimit-reset')
})

t.test('by default each node counts locally and the nodes share their counts through Redis', async t => {
  const env = { REDIS_PREFIX: uniquePrefix(), RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000', RATE_LIMIT_SYNC_MS: '50' }
  const nodeA = await build(t, { env })
  const nodeB = await build(t, { env })
  const redis = await createPublisher(t)
  // What the nodes have shared so far: the sum of the window counters in Redis.
  // On a cluster (rate-limit-cluster.test.ts runs this file on one) the counters spread over the masters.
  const shared = async () => {
    let sum = 0
    for (const node of isCluster(redis) ? redis.nodes('master') : [redis]) {
      for (const key of await node.keys(`${redisKeys(env.REDIS_PREFIX).rateLimit}*`)) sum += Number(await redis.get(key) ?? 0)
    }
    return sum
  }
  const sharedReaches = async (n: number) => t.ok(await eventually(async () => await shared() >= n), `${n} requests shared through Redis`)
  const remaining = async (node: typeof nodeA) => {
    const res = await node.inject({ method: 'GET', url, headers: auth })
    return res.statusCode === 429 ? 'limited' : res.headers['x-ratelimit-remaining']
  }
  t.equal(await remaining(nodeA), '2')
  t.equal(await remaining(nodeA), '1')
  await sharedReaches(2)
  t.equal(await remaining(nodeB), '0', 'node B starts from the count node A shared')
  t.equal(await remaining(nodeB), 'limited')
  await sharedReaches(4)
  // Node A learns node B's counts when it next shares its own: at most one interval late.
  t.equal(await remaining(nodeA), '0')
  await sharedReaches(5)
  t.equal(await remaining(nodeA), 'limited', 'and then limits too')
})

t.test('many clients at once: every count reaches Redis (on a cluster their counters live on different masters)', async t => {
  const env = { REDIS_PREFIX: uniquePrefix(), RATE_LIMIT_MAX: '100', RATE_LIMIT_WINDOW_MS: '60000', RATE_LIMIT_SYNC_MS: '50' }
  const node = await build(t, { env })
  const redis = await createPublisher(t)
  const clients = Array.from({ length: 24 }, (_, i) => `198.51.100.${i + 1}`)
  const call = (remoteAddress: string) => node.inject({ method: 'GET', url, headers: auth, remoteAddress })
  // Each client's first request reads its counter; the next two of every client go out in syncs of many counters.
  for (const ip of clients) await call(ip)
  for (const ip of clients) { await call(ip); await call(ip) }
  const counts = async () => {
    const out: number[] = []
    for (const node of isCluster(redis) ? redis.nodes('master') : [redis]) {
      for (const key of await node.keys(`${redisKeys(env.REDIS_PREFIX).rateLimit}*`)) out.push(Number(await redis.get(key) ?? 0))
    }
    return out
  }
  let seen: number[] = []
  t.ok(await eventually(async () => { seen = await counts(); return seen.length === 24 && seen.every(c => c === 3) }, 10_000),
    'every client\'s three requests are in Redis')
  t.same(seen, Array(24).fill(3), 'per client')
})

t.test('the limit counts unauthenticated requests too (key guessing)', async t => {
  const app = await build(t, { env: { RATE_LIMIT_MAX: '2' } })
  await app.inject({ method: 'GET', url, headers: { 'x-api-key': 'guess-1' } })
  await app.inject({ method: 'GET', url, headers: { 'x-api-key': 'guess-2' } })
  const res = await app.inject({ method: 'GET', url, headers: auth })
  t.equal(res.statusCode, 429, 'even the right key waits')
})

t.test('only /api is limited', async t => {
  const app = await build(t, { env: { RATE_LIMIT_MAX: '1' } })
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ method: 'GET', url: '/healthz' })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-ratelimit-limit'], undefined)
  }
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/docs/json' })).statusCode, 200)
})

t.test('separate Redis prefixes keep separate counters', async t => {
  const nodeA = await build(t, { env: { RATE_LIMIT_MAX: '1' } })
  const nodeB = await build(t, { env: { RATE_LIMIT_MAX: '1' } })
  t.equal((await nodeA.inject({ method: 'GET', url, headers: auth })).statusCode, 404)
  t.equal((await nodeB.inject({ method: 'GET', url, headers: auth })).statusCode, 404)
  t.equal((await nodeA.inject({ method: 'GET', url, headers: auth })).statusCode, 429)
})

t.test('X-Forwarded-For counts only when TRUST_PROXY says so', async t => {
  const untrusting = await build(t, { env: { RATE_LIMIT_MAX: '1' } })
  await untrusting.inject({ method: 'GET', url, headers: { ...auth, 'x-forwarded-for': '203.0.113.1' } })
  const spoofed = await untrusting.inject({ method: 'GET', url, headers: { ...auth, 'x-forwarded-for': '203.0.113.2' } })
  t.equal(spoofed.statusCode, 429, 'a forged header does not buy a fresh counter')

  const trusting = await build(t, { env: { RATE_LIMIT_MAX: '1', TRUST_PROXY: '127.0.0.1' } })
  await trusting.inject({ method: 'GET', url, headers: { ...auth, 'x-forwarded-for': '203.0.113.1' } })
  const other = await trusting.inject({ method: 'GET', url, headers: { ...auth, 'x-forwarded-for': '203.0.113.2' } })
  t.equal(other.statusCode, 404, 'behind a trusted proxy each client has its own counter')
  const same = await trusting.inject({ method: 'GET', url, headers: { ...auth, 'x-forwarded-for': '203.0.113.1' } })
  t.equal(same.statusCode, 429)
})

t.test('with TRUST_PROXY=true, an X-Forwarded-For that is not an IP address buys no fresh counter', async t => {
  const app = await build(t, { env: { RATE_LIMIT_MAX: '3', TRUST_PROXY: 'true' } })
  const answers: number[] = []
  for (let i = 0; i < 6; i++) {
    const res = await app.inject({ method: 'GET', url, headers: { ...auth, 'x-forwarded-for': `not-an-ip-${i}` } })
    answers.push(res.statusCode)
  }
  t.same(answers, [404, 404, 404, 429, 429, 429], 'garbage falls back to the socket address, whose counter fills up')
  const valid = await app.inject({ method: 'GET', url, headers: { ...auth, 'x-forwarded-for': '203.0.113.9' } })
  t.equal(valid.statusCode, 404, 'a valid forwarded address still has its own counter')
})

t.test('with RATE_LIMIT_SYNC_MS=0 and Redis unreachable, the limit holds on this node', async t => {
  const env = { RATE_LIMIT_MAX: '3', RATE_LIMIT_SYNC_MS: '0', REDIS_URL: 'redis://127.0.0.1:1' }
  const app = await build(t, { env, redisDown: true })
  const answers: number[] = []
  for (let i = 0; i < 5; i++) answers.push((await app.inject({ method: 'GET', url, headers: auth })).statusCode)
  t.same(answers, [404, 404, 404, 429, 429], 'counted locally, not let through')
})
