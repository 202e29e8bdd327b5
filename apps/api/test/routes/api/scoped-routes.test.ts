import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import t, { type Test } from 'tap'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { auth, build, createPublisher, multipart, registerWorker, setOwner, testDatabase } from '../../helper.ts'
import { createKey, withKey } from '../../key-helper.ts'

/**
 * Scoped keys on EVERY /api route, taken from the OpenAPI document: a new route fails here until
 * it is listed below (routes without `{sessionId}`) or holds sessions to the key's scope (the rest).
 */
const db = await testDatabase(t)
const { prisma } = db
const redis = await createPublisher(t)
const app = await build(t, { db, env: { START_WAIT_MS: '150', COMMAND_TIMEOUT_MS: '150', SEND_TIMEOUT_MS: '150', WEBHOOK_ALLOW_PRIVATE: 'true' } })
const prefix = app.config.REDIS_PREFIX
await registerWorker(redis, prefix, 'w1')

const tag = randomUUID().slice(0, 8)
const mine = `acme_${tag}-1`
// `_` must match itself only: a LIKE wildcard would let `acmeX…` through.
const lookalike = `acmeX${tag}-1`
const other = `globex-${tag}`
for (const id of [mine, lookalike, other]) {
  await prisma.session.create({ data: { id, name: id, authMethod: 'pairing', phoneNumber: '4915123456789', state: 'connected', ownNumber: '4915123456789' } })
  await setOwner(redis, prefix, id, 'w1')
}
const statusOf = new Map<string, string>()
for (const id of [mine, other]) {
  const status = await prisma.status.create({ data: { id: randomUUID(), sessionId: id, type: 'text', content: 'hi', targetNumbers: [], state: 'sent', sentAt: new Date() } })
  statusOf.set(id, status.id)
}
const writer = await createKey(app, { sessions: [`acme_${tag}-*`], access: 'write' })
const reader = await createKey(app, { sessions: [`acme_${tag}-*`], access: 'read' })
const adminHook = (await app.inject({ method: 'POST', url: '/api/webhooks', headers: auth, payload: { url: 'http://127.0.0.1:9/hooks', sessionIds: [other] } })).json().data as { id: string }
const adminDelivery = (await app.inject({ method: 'POST', url: `/api/webhooks/${adminHook.id}/test`, headers: auth })).json().data as { id: string }
const jpeg = await readFile(new URL('../../fixtures/tiny.jpg', import.meta.url))

/** Bodies the routes under a session need to get past validation. */
const BODIES: Record<string, Record<string, unknown>> = {
  'post /api/sessions/{sessionId}/send-status': { type: 'text', content: 'hello' },
  'put /api/sessions/{sessionId}/phone-number': { phoneNumber: '+4915123456780' }
}

function call (route: string, sessionId: string, headers: Record<string, string>): Promise<Awaited<ReturnType<FastifyInstance['inject']>>> {
  const [method, path] = route.split(' ') as [string, string]
  const url = path.replace('{sessionId}', sessionId).replace('{statusId}', statusOf.get(sessionId) ?? randomUUID()).replace('{listId}', randomUUID())
  const body = BODIES[route]
  return app.inject({ method: method.toUpperCase(), url, headers, ...(body === undefined ? {} : { payload: body }) } as InjectOptions)
}

/** Routes without a session in their path: what each must do for a scoped key. */
const UNSCOPED: Record<string, (t: Tap) => Promise<void>> = {
  'post /api/sessions': async t => {
    const create = (key: string, sessionId: string) => app.inject({ method: 'POST', url: '/api/sessions', headers: withKey(key), payload: { sessionId, sessionName: 'n', authMethod: 'qrcode' } })
    const outside = await create(writer.key, `globex-new-${tag}`)
    t.equal(outside.statusCode, 403, 'outside its scope: 403')
    t.equal(outside.json().code, 'FORBIDDEN')
    t.equal(await prisma.session.count({ where: { id: `globex-new-${tag}` } }), 0, 'nothing created')
    const existing = await create(writer.key, other)
    t.equal(existing.statusCode, 403, 'an existing id outside its scope: the same 403, not 409')
    t.equal((await create(reader.key, `acme_${tag}-new`)).statusCode, 403, 'a read key creates nothing')
    t.equal((await create(writer.key, `acme_${tag}-new`)).statusCode, 201, 'inside its scope: created')
  },
  'get /api/sessions': async t => {
    for (const key of [writer.key, reader.key]) {
      const whole = await app.inject({ method: 'GET', url: '/api/sessions', headers: withKey(key) })
      const ids = whole.json().data.map((s: { sessionId: string }) => s.sessionId)
      t.ok(ids.includes(mine), 'its session is listed')
      t.notOk(ids.includes(other), 'another is not')
      t.notOk(ids.includes(lookalike), 'a lookalike of its prefix is not')
      const page = await app.inject({ method: 'GET', url: '/api/sessions?limit=1000', headers: withKey(key) })
      t.same(page.json().data.map((s: { sessionId: string }) => s.sessionId), ids, 'pages list the same')
    }
    const all = (await app.inject({ method: 'GET', url: '/api/sessions', headers: auth })).json().data.map((s: { sessionId: string }) => s.sessionId)
    t.ok(all.includes(other) && all.includes(mine), 'an admin key lists every session')
  },
  'post /api/upload-image': async t => uploadRoute(t, 'image'),
  'post /api/upload-video': async t => uploadRoute(t, 'video'),
  'post /api/upload-audio': async t => uploadRoute(t, 'audio'),
  'get /api/health': async t => {
    const res = await app.inject({ method: 'GET', url: '/api/health', headers: withKey(reader.key) })
    t.equal(res.statusCode, 200)
    const { storage, stats, workers } = res.json().data
    t.same(storage.map((s: { sessionId: string }) => s.sessionId), [mine, `acme_${tag}-new`].filter(id => storage.some((s: { sessionId: string }) => s.sessionId === id)))
    t.ok(storage.some((s: { sessionId: string }) => s.sessionId === mine), 'its own storage')
    t.same(stats, { sessions: null, statuses: null, viewers: null, uploads: null, queues: null }, 'no deployment-wide figures')
    t.equal(workers, null, 'nor the workers and their session counts')
    const admin = (await app.inject({ method: 'GET', url: '/api/health', headers: auth })).json().data
    t.ok(admin.storage.some((s: { sessionId: string }) => s.sessionId === other), 'an admin key sees every session')
  },
  // One post from many sessions: only the key's sessions, `all` meaning the key's connected ones.
  'post /api/statuses': async t => {
    const post = (key: string, sessionIds: string[] | 'all') => app.inject({ method: 'POST', url: '/api/statuses', headers: withKey(key), payload: { sessionIds, type: 'text', content: 'hi' } })
    const outside = await post(writer.key, [mine, other])
    t.equal(outside.statusCode, 403, 'a session outside its scope: 403')
    t.same(outside.json().details, { sessionIds: [other] }, 'naming it')
    t.equal((await post(writer.key, [lookalike])).statusCode, 403, 'a lookalike of its prefix: 403')
    t.equal((await post(reader.key, [mine])).statusCode, 403, 'a read key posts nothing')
    const all = await post(writer.key, 'all')
    t.equal(all.statusCode, 202, all.body)
    t.same(all.json().data.statuses.map((s: { sessionId: string }) => s.sessionId), [mine], '"all": its connected sessions only')
  },
  'get /api/events': async t => {
    // A plain GET still answers 426 to a read key; what the stream delivers: scoped-streams.test.ts.
    const res = await app.inject({ method: 'GET', url: '/api/events', headers: withKey(reader.key) })
    t.equal(res.statusCode, 426)
  },
  // Every key route is for admin keys only: keys.test.ts.
  'post /api/keys': async t => forbidden(t, 'POST', '/api/keys'),
  'get /api/keys': async t => forbidden(t, 'GET', '/api/keys'),
  'get /api/keys/{id}': async t => forbidden(t, 'GET', `/api/keys/${reader.id}`),
  'delete /api/keys/{id}': async t => forbidden(t, 'DELETE', `/api/keys/${reader.id}`),
  // A scoped key manages only the webhook endpoints it created, for sessions within its scope;
  // another key's endpoint is not there for it (404, as in webhooks.test.ts).
  'post /api/webhooks': async t => {
    const create = (key: string, sessionIds: string[]) => app.inject({ method: 'POST', url: '/api/webhooks', headers: withKey(key), payload: { url: 'http://127.0.0.1:9/hooks', sessionIds } })
    t.equal((await create(writer.key, [other])).statusCode, 403, 'a session outside its scope: 403')
    t.equal((await create(writer.key, [lookalike])).statusCode, 403, 'a lookalike of its prefix: 403')
    t.equal((await create(reader.key, [mine])).statusCode, 403, 'a read key creates nothing')
    const made = await create(writer.key, [mine])
    t.equal(made.statusCode, 201, 'inside its scope: created')
    t.equal(await prisma.webhookEndpoint.count({ where: { id: made.json().data.id, ownerKeyId: writer.id } }), 1, 'owned by the key')
  },
  'get /api/webhooks': async t => {
    for (const key of [writer.key, reader.key]) {
      const ids = (await app.inject({ method: 'GET', url: '/api/webhooks', headers: withKey(key) })).json().data.map((w: { id: string }) => w.id)
      t.notOk(ids.includes(adminHook.id), 'another key\'s endpoint is not listed')
    }
  },
  'get /api/webhooks/{id}': async t => notThere(t, 'GET', ''),
  'patch /api/webhooks/{id}': async t => notThere(t, 'PATCH', '', { enabled: false }),
  'delete /api/webhooks/{id}': async t => notThere(t, 'DELETE', ''),
  'post /api/webhooks/{id}/rotate-secret': async t => notThere(t, 'POST', '/rotate-secret'),
  'post /api/webhooks/{id}/test': async t => notThere(t, 'POST', '/test'),
  'get /api/webhooks/{id}/deliveries': async t => notThere(t, 'GET', '/deliveries'),
  'post /api/webhooks/{id}/deliveries/{deliveryId}/redeliver': async t => notThere(t, 'POST', `/deliveries/${adminDelivery.id}/redeliver`)
}

async function notThere (t: Tap, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', tail: string, payload?: Record<string, unknown>) {
  for (const key of [writer.key, reader.key]) {
    const res = await app.inject({ method, url: `/api/webhooks/${adminHook.id}${tail}`, headers: withKey(key), ...(payload === undefined ? {} : { payload }) })
    t.ok(res.statusCode === 404 || (res.statusCode === 403 && key === reader.key), `${method} …${tail}: ${res.statusCode}`)
  }
  const still = await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: adminHook.id } })
  t.equal(still.enabled, true, 'the admin endpoint is untouched')
}
type Tap = Test

async function forbidden (t: Tap, method: 'GET' | 'POST' | 'DELETE', url: string) {
  for (const key of [writer.key, reader.key]) {
    const res = await app.inject({ method, url, headers: withKey(key), ...(method === 'POST' ? { payload: { name: 'x', scope: { sessions: 'all', access: 'write' } } } : {}) })
    t.equal(res.statusCode, 403, `${method} ${url}`)
    t.equal(res.json().code, 'FORBIDDEN')
  }
}

async function uploadRoute (t: Tap, kind: 'image' | 'video' | 'audio') {
  const { payload, headers } = await multipart(kind, jpeg, 'x.jpg', 'image/jpeg')
  const read = await app.inject({ method: 'POST', url: `/api/upload-${kind}`, headers: { ...headers, ...withKey(reader.key) }, payload })
  t.equal(read.statusCode, 403, 'a read key uploads nothing')
  t.equal(read.json().code, 'FORBIDDEN')
  if (kind !== 'image') return // the bytes are an image; ownership is checked on the image route
  const res = await app.inject({ method: 'POST', url: '/api/upload-image', headers: { ...headers, ...withKey(writer.key) }, payload })
  t.equal(res.statusCode, 201)
  const row = await prisma.upload.findUniqueOrThrow({ where: { id: res.json().data.filename } })
  t.equal(row.ownerKeyId, writer.id, 'the upload belongs to the key that made it')
}

const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, unknown>> }
const routes = Object.entries(doc.paths)
  .flatMap(([path, ops]) => Object.keys(ops).map(method => `${method} ${path}`))
  .filter(route => route.includes(' /api/'))

t.ok(routes.length >= 20, 'the OpenAPI document lists the routes')

for (const route of routes) {
  if (!route.includes('{sessionId}')) {
    t.test(`${route}: scoped keys`, async t => {
      const check = UNSCOPED[route]
      if (check === undefined) return t.fail(`${route} has no session in its path and no scope rule in this test: decide what a scoped key may do there`)
      await check(t)
    })
    continue
  }
  t.test(`${route}: another session is a missing one; a read key only reads`, async t => {
    const control = await call(route, other, auth)
    t.not(control.json().code, 'SESSION_NOT_FOUND', 'the admin key finds the other session')
    for (const key of [writer.key, reader.key]) {
      const res = await call(route, other, withKey(key))
      t.equal(res.statusCode, 404, 'outside its scope: 404')
      t.same(res.json(), { success: false, error: `Session ${other} not found`, code: 'SESSION_NOT_FOUND' }, 'the same answer as for a missing session')
    }
    const write = !route.startsWith('get ')
    const asReader = await call(route, mine, withKey(reader.key))
    if (write) {
      t.equal(asReader.statusCode, 403, 'a read key may not write')
      t.equal(asReader.json().code, 'FORBIDDEN')
    } else {
      t.notOk([403, 404].includes(asReader.statusCode) && ['FORBIDDEN', 'SESSION_NOT_FOUND'].includes(asReader.json().code), `a read key reads its session (${asReader.statusCode})`)
    }
    const asWriter = await call(route, mine, withKey(writer.key))
    t.notOk(['FORBIDDEN', 'SESSION_NOT_FOUND'].includes(asWriter.json().code), `a write key uses its session (${asWriter.statusCode} ${asWriter.json().code ?? ''})`)
  })
}

t.test('send-status: a scoped key posts only its own uploads', async t => {
  const { payload, headers } = await multipart('image', jpeg, 'x.jpg', 'image/jpeg')
  const upload = async (h: Record<string, string>) =>
    (await app.inject({ method: 'POST', url: '/api/upload-image', headers: { ...headers, ...h }, payload })).json().data.filename as string
  const own = await upload(withKey(writer.key))
  const admins = await upload(auth)
  const second = await createKey(app, { sessions: [`acme_${tag}-*`], access: 'write' })
  const theirs = await upload(withKey(second.key))
  const send = (h: Record<string, string>, content: string) =>
    app.inject({ method: 'POST', url: `/api/sessions/${mine}/send-status`, headers: h, payload: { type: 'image', content } })
  for (const content of [admins, theirs]) {
    const res = await send(withKey(writer.key), content)
    t.equal(res.statusCode, 404, 'another key\'s upload is as missing as an unknown one')
    t.equal(res.json().code, 'FILE_NOT_FOUND')
  }
  t.equal((await send(withKey(writer.key), own)).statusCode, 202, 'its own upload is posted')
  t.equal((await send(auth, theirs)).statusCode, 202, 'an admin key posts any upload')
})
