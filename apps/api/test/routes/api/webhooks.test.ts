import { randomUUID } from 'node:crypto'
import t from 'tap'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { redisKeys } from '@wss/shared'
import { WEBHOOK_QUEUE } from '@wss/webhooks'
import { auth, build, REDIS_URL, testDatabase, uniquePrefix } from '../../helper.ts'
import { createKey, withKey } from '../../key-helper.ts'

const db = await testDatabase(t)
const { prisma } = db
// Loopback receivers are refused unless allowed (the default); these tests allow them where they need one.
const allowPrivate = { WEBHOOK_ALLOW_PRIVATE: 'true' }
const RECEIVER = 'http://127.0.0.1:9/hooks'

async function create (app: Awaited<ReturnType<typeof build>>, payload: Record<string, unknown>, headers: Record<string, string> = auth) {
  return await app.inject({ method: 'POST', url: '/api/webhooks', headers, payload })
}

t.test('POST /api/webhooks answers the secret once; reads never show it', async t => {
  const app = await build(t, { db, env: allowPrivate })
  const res = await create(app, { url: RECEIVER, events: ['status-sent', 'status-viewers-update'], sessionIds: ['s1'], description: 'crm' })
  t.equal(res.statusCode, 201)
  const created = res.json().data
  t.match(created, { url: RECEIVER, events: ['status-sent', 'status-viewers-update'], sessionIds: ['s1'], description: 'crm', enabled: true, disabledReason: null, createdAt: String })
  t.match(created.secret, /^whsec_[A-Za-z0-9+/]{43}=$/, 'whsec_ + base64 of 32 bytes')

  const one = await app.inject({ method: 'GET', url: `/api/webhooks/${created.id}`, headers: auth })
  t.equal(one.statusCode, 200)
  const { secret, ...view } = created
  t.same(one.json().data, view)
  const list = await app.inject({ method: 'GET', url: '/api/webhooks', headers: auth })
  t.ok(list.json().data.some((w: { id: string }) => w.id === created.id))
  for (const body of [one.body, list.body]) t.notOk(body.includes(secret.slice(6)), 'never the secret')

  const defaults = (await create(app, { url: RECEIVER })).json().data
  t.match(defaults, { events: null, sessionIds: null, description: null, enabled: true })
})

t.test('creation refuses private, loopback and link-local URLs unless allowed, naming the problem', async t => {
  const app = await build(t, { db })
  for (const url of ['http://127.0.0.1/hooks', 'http://10.1.2.3/x', 'http://169.254.169.254/latest', 'http://[::1]:8080/', 'http://localhost/hooks', 'https://192.168.0.10/']) {
    const res = await create(app, { url })
    t.equal(res.statusCode, 400, url)
    t.equal(res.json().code, 'URL_NOT_ALLOWED', url)
    t.match(res.json().error, /body\.url .*private, loopback or link-local/, url)
  }
  t.equal(await prisma.webhookEndpoint.count({ where: { url: { contains: '127.0.0.1/hooks' } } }), 0, 'nothing stored')
})

t.test('bad input is a 400 naming the field', async t => {
  const app = await build(t, { db, env: allowPrivate })
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{}, /url/],
    [{ url: 'ftp://127.0.0.1/x' }, /body\.url .*http/],
    [{ url: 'not a url' }, /body\.url/],
    [{ url: 'http://user:pw@127.0.0.1/x' }, /body\.url .*password/],
    [{ url: RECEIVER, events: ['status-sent', 'no-such-event'] }, /events/],
    [{ url: RECEIVER, events: [] }, /events/],
    [{ url: RECEIVER, sessionIds: ['bad id'] }, /sessionIds/]
  ]
  for (const [payload, message] of cases) {
    const res = await create(app, payload)
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.match(res.json().error, message, JSON.stringify(payload))
  }
  const created = (await create(app, { url: RECEIVER })).json().data
  const patch = await app.inject({ method: 'PATCH', url: `/api/webhooks/${created.id}`, headers: auth, payload: { events: ['webhook.test'] } })
  t.equal(patch.statusCode, 400, 'webhook.test is a delivery type, not an event to subscribe to')
})

t.test('PATCH changes the given fields, null resets a filter, DELETE removes; unknown ids are 404', async t => {
  const app = await build(t, { db, env: allowPrivate })
  const created = (await create(app, { url: RECEIVER, events: ['status-sent'] })).json().data
  const patched = await app.inject({ method: 'PATCH', url: `/api/webhooks/${created.id}`, headers: auth, payload: { events: null, sessionIds: ['s2'], enabled: false, description: 'paused' } })
  t.equal(patched.statusCode, 200)
  t.match(patched.json().data, { url: RECEIVER, events: null, sessionIds: ['s2'], enabled: false, description: 'paused' })
  t.equal((await app.inject({ method: 'DELETE', url: `/api/webhooks/${created.id}`, headers: auth })).statusCode, 200)
  for (const [method, url] of [['GET', `/api/webhooks/${created.id}`], ['PATCH', `/api/webhooks/${created.id}`], ['DELETE', '/api/webhooks/nope'], ['POST', `/api/webhooks/${randomUUID()}/test`]] as const) {
    const res = await app.inject({ method, url, headers: auth, ...(method === 'PATCH' ? { payload: { enabled: true } } : {}) })
    t.equal(res.statusCode, 404, `${method} ${url}`)
    t.equal(res.json().code, 'WEBHOOK_NOT_FOUND')
  }
})

t.test('rotate-secret answers a new secret, kept for the next deliveries', async t => {
  const app = await build(t, { db, env: allowPrivate })
  const created = (await create(app, { url: RECEIVER })).json().data
  const res = await app.inject({ method: 'POST', url: `/api/webhooks/${created.id}/rotate-secret`, headers: auth })
  t.equal(res.statusCode, 200)
  const { secret } = res.json().data
  t.match(secret, /^whsec_/)
  t.not(secret, created.secret)
  t.equal((await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: created.id } })).secret, secret)
})

t.test('test and redeliver queue deliveries; the list pages newest first and filters by state', async t => {
  const prefix = uniquePrefix()
  const app = await build(t, { db, env: { ...allowPrivate, REDIS_PREFIX: prefix } })
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
  const queue = new Queue(WEBHOOK_QUEUE, { connection: redis, prefix: redisKeys(prefix).bull })
  t.teardown(async () => { await queue.close(); redis.disconnect() })
  const hook = (await create(app, { url: RECEIVER })).json().data

  const test = await app.inject({ method: 'POST', url: `/api/webhooks/${hook.id}/test`, headers: auth })
  t.equal(test.statusCode, 202)
  t.match(test.json().data, { event: 'webhook.test', state: 'pending', attempts: 0 })
  t.ok(await queue.getJob(test.json().data.id), 'a job on the webhooks queue')

  const failed = await prisma.webhookDelivery.create({
    data: { id: randomUUID(), endpointId: hook.id, event: 'status-sent', payload: {}, state: 'failed', attempts: 8, lastStatusCode: 500, lastError: 'the endpoint answered HTTP 500', lastResponse: '<b>oops</b>', createdAt: new Date(Date.now() - 60_000) }
  })
  await prisma.webhookDelivery.create({ data: { id: randomUUID(), endpointId: hook.id, event: 'status-sent', payload: {}, state: 'delivered', attempts: 1, lastStatusCode: 204, createdAt: new Date(Date.now() - 120_000) } })

  const failedOnly = await app.inject({ method: 'GET', url: `/api/webhooks/${hook.id}/deliveries?state=failed`, headers: auth })
  t.same(failedOnly.json().data.map((d: { id: string }) => d.id), [failed.id])
  t.match(failedOnly.json().data[0], { attempts: 8, lastStatusCode: 500, lastError: 'the endpoint answered HTTP 500', responseExcerpt: '<b>oops</b>', nextAttemptAt: null })

  const pages: string[][] = []
  let cursor: string | null = null
  do {
    const url: string = `/api/webhooks/${hook.id}/deliveries?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`
    const res = await app.inject({ method: 'GET', url, headers: auth })
    t.equal(res.statusCode, 200)
    pages.push(res.json().data.map((d: { event: string }) => d.event))
    cursor = res.json().nextCursor
  } while (cursor !== null)
  t.same(pages, [['webhook.test', 'status-sent'], ['status-sent']], 'newest first, two per page')
  t.equal((await app.inject({ method: 'GET', url: `/api/webhooks/${hook.id}/deliveries?state=lost`, headers: auth })).statusCode, 400)

  const again = await app.inject({ method: 'POST', url: `/api/webhooks/${hook.id}/deliveries/${failed.id}/redeliver`, headers: auth })
  t.equal(again.statusCode, 202)
  t.match(again.json().data, { id: failed.id, state: 'pending', attempts: 8 })
  t.same((await queue.getJob(`${failed.id}-r8`))?.data, { deliveryId: failed.id, base: 8 }, 'its attempts go on from 8')
  const missing = await app.inject({ method: 'POST', url: `/api/webhooks/${hook.id}/deliveries/${randomUUID()}/redeliver`, headers: auth })
  t.equal(missing.json().code, 'DELIVERY_NOT_FOUND')
})

t.test('a scoped key manages only its own endpoints, within its sessions; a read key only reads', async t => {
  const app = await build(t, { db, env: allowPrivate })
  const admin = (await create(app, { url: RECEIVER })).json().data
  const acme = await createKey(app, { sessions: ['acme-*', 'shared'], access: 'write' })
  const reader = await createKey(app, { sessions: ['acme-*'], access: 'read' })

  const noSessions = await create(app, { url: RECEIVER }, withKey(acme.key))
  t.equal(noSessions.statusCode, 403, 'a key scoped to some sessions must name them')
  const outside = await create(app, { url: RECEIVER, sessionIds: ['acme-1', 'other'] }, withKey(acme.key))
  t.equal(outside.statusCode, 403)
  t.match(outside.json().error, /outside this key's scope/)
  const mine = await create(app, { url: RECEIVER, sessionIds: ['acme-1', 'shared'] }, withKey(acme.key))
  t.equal(mine.statusCode, 201)
  const id = mine.json().data.id

  const list = await app.inject({ method: 'GET', url: '/api/webhooks', headers: withKey(acme.key) })
  t.same(list.json().data.map((w: { id: string }) => w.id), [id], 'only its own')
  t.equal((await app.inject({ method: 'GET', url: `/api/webhooks/${admin.id}`, headers: withKey(acme.key) })).statusCode, 404, 'the admin endpoint is not there for it')
  t.equal((await app.inject({ method: 'DELETE', url: `/api/webhooks/${admin.id}`, headers: withKey(acme.key) })).statusCode, 404)
  const widen = await app.inject({ method: 'PATCH', url: `/api/webhooks/${id}`, headers: withKey(acme.key), payload: { sessionIds: null } })
  t.equal(widen.statusCode, 403, 'cannot widen to every session')
  t.equal((await app.inject({ method: 'GET', url: '/api/webhooks', headers: withKey(reader.key) })).json().data.length, 0)
  t.equal((await create(app, { url: RECEIVER, sessionIds: ['acme-1'] }, withKey(reader.key))).statusCode, 403, 'a read key creates nothing')
  const adminList = await app.inject({ method: 'GET', url: '/api/webhooks', headers: auth })
  t.ok(adminList.json().data.some((w: { id: string }) => w.id === id), 'an admin key sees every endpoint')

  t.equal((await app.inject({ method: 'DELETE', url: `/api/keys/${acme.id}`, headers: auth })).statusCode, 200)
  t.equal(await prisma.webhookEndpoint.count({ where: { id } }), 0, 'a revoked key\'s endpoints go with it')
})
