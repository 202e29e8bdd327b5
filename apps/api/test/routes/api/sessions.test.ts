import t from 'tap'
import { Redis } from 'ioredis'
import { eventsChannel, parseBusEvent, redisKeys, type BusEvent } from '@wss/shared'
import {
  auth,
  build,
  createPublisher,
  eventually,
  expireWorker,
  fakeClock,
  inspectQueue,
  nextValue,
  REDIS_URL,
  registerWorker,
  sessionName,
  setOwner,
  settlesWithin,
  testDatabase,
  type Tap
} from '../../helper.ts'
import { closeRedisClients, waitForRedis } from '../../../src/redis.ts'
import { createPrisma } from '@wss/db'
import { CONNECTION_STATUS_FRESH_MS, CONNECTION_STATUS_MAX_AGE_MS } from '../../../src/plugins/app/sessions.ts'

// The connection-status cache ages by this clock, so what it answers does not depend on the machine's load.
const clock = fakeClock()

/** Ages the connection-status cache past its bound, for changes made here without an event. */
const unannounced = () => clock.advance(CONNECTION_STATUS_MAX_AGE_MS + 1)

const db = await testDatabase(t)
const { prisma } = db
const redis = await createPublisher(t)

// Short waits: nothing consumes the registered workers' queues in these tests.
const env = { START_WAIT_MS: '150', COMMAND_TIMEOUT_MS: '150' }

async function app (t: Tap, extra: Record<string, string> = {}) {
  const fastify = await build(t, { db, now: clock.now, env: { ...env, ...extra } })
  return { fastify, prefix: fastify.config.REDIS_PREFIX }
}

/** Collects the bus events published under a prefix. */
async function listen (t: Tap, prefix: string): Promise<BusEvent[]> {
  const sub = new Redis(REDIS_URL)
  t.teardown(() => closeRedisClients(sub))
  await waitForRedis(sub)
  const events: BusEvent[] = []
  sub.on('message', (_channel: string, message: string) => {
    const event = parseBusEvent(message)
    if (event !== null) events.push(event)
  })
  await sub.subscribe(eventsChannel(prefix))
  return events
}

async function insertSession (id: string, data: Partial<Parameters<typeof prisma.session.create>[0]['data']> = {}) {
  return await prisma.session.create({ data: { id, name: `name ${id}`, authMethod: 'pairing', phoneNumber: '4915123456789', ...data } })
}

t.test('POST /api/sessions creates, announces and starts the session on a live worker', async t => {
  const { fastify, prefix } = await app(t)
  await registerWorker(redis, prefix, 'w1')
  const queue = await inspectQueue(t, prefix, 'w1')
  const events = await listen(t, prefix)
  const sessionId = sessionName()

  const res = await fastify.inject({
    method: 'POST',
    url: '/api/sessions',
    headers: auth,
    payload: { sessionId, sessionName: 'Shop', phoneNumber: '+49 (151) 234-56789' }
  })
  t.equal(res.statusCode, 201, 'the worker not answering within START_WAIT_MS still answers 201')
  const body = res.json()
  t.equal(body.success, true)
  t.match(body.data, {
    sessionId,
    sessionName: 'Shop',
    authMethod: 'pairing',
    state: 'connecting',
    connected: false,
    pairingCode: null,
    qrCode: null,
    phoneNumber: '4915123456789',
    ownNumber: null,
    lastError: null
  })
  t.ok(Date.parse(body.data.createdAt) > 0)

  const row = await prisma.session.findUniqueOrThrow({ where: { id: sessionId } })
  t.equal(row.phoneNumber, '4915123456789', 'stored normalized')

  const jobs = await queue.getJobs(['waiting'])
  t.equal(jobs.length, 1, 'one start-session job on the worker\'s queue')
  const job = jobs[0]!
  t.equal(job.name, 'start-session')
  t.same(job.data.payload, { sessionId, reason: 'created' })
  t.equal(job.data.replyTo.channel, redisKeys(prefix).replies(fastify.commands.nodeId))
  t.equal(job.id, job.data.replyTo.requestId, 'jobId is the request id')
  t.type(job.data.enqueuedAt, 'number')

  t.ok(await eventually(() => events.some(e => e.event === 'session-created')), 'session-created published')
  const created = events.find(e => e.event === 'session-created')
  t.match(created?.data, { sessionId, sessionName: 'Shop', authMethod: 'pairing', state: 'connecting' })
})

t.test('POST /api/sessions: a qrcode session needs no number; START_WAIT_MS=0 answers at once', async t => {
  const { fastify, prefix } = await app(t, { START_WAIT_MS: '0' })
  await registerWorker(redis, prefix, 'w1')
  const sessionId = sessionName()
  // Nothing answers the start: waiting at all would mean the default START_WAIT_MS (10 s).
  const res = await settlesWithin(fastify.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: { sessionId, sessionName: 'QR', authMethod: 'qrcode' } }), 5000, 'answer before the worker')
  t.equal(res.statusCode, 201)
  t.match(res.json().data, { authMethod: 'qrcode', phoneNumber: null })
})

t.test('POST /api/sessions: 409 when the id is taken', async t => {
  const { fastify, prefix } = await app(t, { START_WAIT_MS: '0' })
  await registerWorker(redis, prefix, 'w1')
  const sessionId = sessionName()
  const payload = { sessionId, sessionName: 'A', authMethod: 'qrcode' }
  t.equal((await fastify.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload })).statusCode, 201)
  // Concurrent creations: the primary key decides, exactly one wins.
  const other = sessionName()
  const race = await Promise.all([1, 2, 3].map(() =>
    fastify.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: { ...payload, sessionId: other } })))
  t.same(race.map(r => r.statusCode).sort(), [201, 409, 409])
  const again = await fastify.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload })
  t.equal(again.statusCode, 409)
  t.match(again.json(), { success: false, code: 'SESSION_EXISTS' })
})

t.test('POST /api/sessions: 503 NO_WORKER when no worker is alive, and the row is kept', async t => {
  const { fastify, prefix } = await app(t)
  await registerWorker(redis, prefix, 'dead')
  await expireWorker(redis, prefix, 'dead')
  const sessionId = sessionName()
  const res = await fastify.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: { sessionId, sessionName: 'A', phoneNumber: '4915123456789' } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'NO_WORKER')
  t.match(res.json().error, /no worker is available/i)
  const kept = await fastify.inject({ method: 'GET', url: `/api/sessions/${sessionId}`, headers: auth })
  t.equal(kept.statusCode, 200, 'a worker that joins later picks it up')
  t.equal(kept.json().data.state, 'connecting')
})

t.test('POST /api/sessions: each invalid field is named', async t => {
  const { fastify } = await app(t)
  const ok = { sessionId: sessionName(), sessionName: 'A', phoneNumber: '4915123456789' }
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['missing sessionId', { sessionName: 'A', phoneNumber: '4915123456789' }, 'body.sessionId'],
    ['bad sessionId', { ...ok, sessionId: 'has space' }, 'body.sessionId'],
    ['too long sessionId', { ...ok, sessionId: 'x'.repeat(65) }, 'body.sessionId'],
    ['missing sessionName', { sessionId: ok.sessionId, phoneNumber: '4915123456789' }, 'body.sessionName'],
    ['bad authMethod', { ...ok, authMethod: 'sms' }, 'body.authMethod'],
    ['pairing without number', { sessionId: ok.sessionId, sessionName: 'A' }, 'body.phoneNumber'],
    ['short number', { ...ok, phoneNumber: '12345' }, 'body.phoneNumber'],
    ['letters in number', { ...ok, phoneNumber: '49151abc4567' }, 'body.phoneNumber']
  ]
  for (const [name, payload, field] of cases) {
    const res = await fastify.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload })
    t.equal(res.statusCode, 400, name)
    const body = res.json()
    t.equal(body.code, 'VALIDATION', name)
    t.equal(body.details?.[0]?.field, field, name)
    t.match(body.error, field, `${name}: the message names the field`)
  }
  t.equal(await prisma.session.count({ where: { id: ok.sessionId } }), 0, 'nothing was stored')
})

t.test('GET /api/sessions lists every session, or pages with limit and cursor', async t => {
  const { fastify, prefix } = await app(t)
  const ids = [sessionName('list'), sessionName('list'), sessionName('list')]
  for (const [i, id] of ids.entries()) {
    await insertSession(id, { createdAt: new Date(Date.UTC(2000, 0, 1, 0, 0, i)), state: 'connected' })
  }
  await registerWorker(redis, prefix, 'w1')
  await setOwner(redis, prefix, ids[0]!, 'w1')

  const all = await fastify.inject({ method: 'GET', url: '/api/sessions', headers: auth })
  t.equal(all.statusCode, 200)
  const body = all.json()
  t.notOk('nextCursor' in body, 'no cursor without paging')
  const mine = body.data.filter((s: { sessionId: string }) => ids.includes(s.sessionId))
  t.same(mine.map((s: { sessionId: string }) => s.sessionId), ids, 'oldest first')
  t.same(mine.map((s: { connected: boolean }) => s.connected), [true, false, false], 'connected follows the owner\'s lease')
  t.same(mine.map((s: { state: string }) => s.state), ['connected', 'disconnected', 'disconnected'])

  const seen: string[] = []
  let cursor: string | null | undefined
  let pages = 0
  do {
    const url = `/api/sessions?limit=2${cursor ? `&cursor=${cursor}` : ''}`
    const page = await fastify.inject({ method: 'GET', url, headers: auth })
    t.equal(page.statusCode, 200)
    const json = page.json()
    t.ok(json.data.length <= 2)
    t.ok('nextCursor' in json)
    seen.push(...json.data.map((s: { sessionId: string }) => s.sessionId))
    cursor = json.nextCursor
    pages++
  } while (cursor !== null && pages < 100)
  const total = await prisma.session.count()
  t.equal(seen.length, total, 'the pages hold every session once')
  t.equal(new Set(seen).size, total)

  const bad = await fastify.inject({ method: 'GET', url: '/api/sessions?cursor=nonsense', headers: auth })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().details[0].field, 'querystring.cursor')
  const badLimit = await fastify.inject({ method: 'GET', url: '/api/sessions?limit=0', headers: auth })
  t.equal(badLimit.statusCode, 400)
  t.equal(badLimit.json().details[0].field, 'querystring.limit')
})

t.test('GET /api/sessions/:sessionId and connection-status', async t => {
  const { fastify, prefix } = await app(t)
  const sessionId = sessionName()
  await insertSession(sessionId, { state: 'awaiting_pairing', pairingCode: 'ABCD1234' })

  const one = await fastify.inject({ method: 'GET', url: `/api/sessions/${sessionId}`, headers: auth })
  t.equal(one.statusCode, 200)
  t.match(one.json().data, { sessionId, state: 'awaiting_pairing', pairingCode: 'ABCD1234', connected: false })

  const status = await fastify.inject({ method: 'GET', url: `/api/sessions/${sessionId}/connection-status`, headers: auth })
  t.equal(status.statusCode, 200)
  t.same(status.json().data, {
    sessionId,
    connected: false,
    authMethod: 'pairing',
    state: 'awaiting_pairing',
    pairingCode: 'ABCD1234',
    qrCode: null,
    phoneNumber: '4915123456789',
    ownNumber: null,
    lastError: null
  })

  const missing = await fastify.inject({ method: 'GET', url: '/api/sessions/nope-404', headers: auth })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'SESSION_NOT_FOUND')
  const missingStatus = await fastify.inject({ method: 'GET', url: '/api/sessions/nope-404/connection-status', headers: auth })
  t.equal(missingStatus.statusCode, 404)
  const invalid = await fastify.inject({ method: 'GET', url: '/api/sessions/bad%20id', headers: auth })
  t.equal(invalid.statusCode, 400)
  t.equal(invalid.json().details[0].field, 'params.sessionId')

  // Connected per row and lease, then the lease lapses: not connected any more.
  await prisma.session.update({ where: { id: sessionId }, data: { state: 'connected', ownNumber: '4915100000000', pairingCode: null } })
  await registerWorker(redis, prefix, 'w1')
  await setOwner(redis, prefix, sessionId, 'w1')
  await unannounced()
  const live = await fastify.inject({ method: 'GET', url: `/api/sessions/${sessionId}/connection-status`, headers: auth })
  t.match(live.json().data, { connected: true, state: 'connected', ownNumber: '4915100000000' })
  await expireWorker(redis, prefix, 'w1')
  await unannounced()
  const lapsed = await fastify.inject({ method: 'GET', url: `/api/sessions/${sessionId}/connection-status`, headers: auth })
  t.match(lapsed.json().data, { connected: false, state: 'disconnected', ownNumber: '4915100000000' },
    'a connected row whose owner lost its lease is not connected')

  // A new owner whose claim is pending, or whose generation is not the row's, is not connected yet.
  await registerWorker(redis, prefix, 'w2')
  await redis.set(redisKeys(prefix).owner(sessionId), 'w2|pending')
  await unannounced()
  t.match((await fastify.inject({ method: 'GET', url: `/api/sessions/${sessionId}/connection-status`, headers: auth })).json().data,
    { connected: false }, 'a pending claim is not connected')
  await setOwner(redis, prefix, sessionId, 'w2', 1)
  await unannounced()
  t.match((await fastify.inject({ method: 'GET', url: `/api/sessions/${sessionId}/connection-status`, headers: auth })).json().data,
    { connected: false }, 'an owner of another generation than the row is not connected')
  await prisma.session.update({ where: { id: sessionId }, data: { generation: 1 } })
  await unannounced()
  t.match((await fastify.inject({ method: 'GET', url: `/api/sessions/${sessionId}/connection-status`, headers: auth })).json().data,
    { connected: true }, 'the owner that wrote the row is')
})

t.test('connection-status shows an announced change at once, and any change within its freshness bound', async t => {
  const { fastify, prefix } = await app(t)
  await fastify.events.subscribed()
  const sessionId = sessionName()
  await insertSession(sessionId, { state: 'connected', ownNumber: '4915100000000' })
  await registerWorker(redis, prefix, 'w1')
  await setOwner(redis, prefix, sessionId, 'w1')
  const status = async () => (await fastify.inject({ method: 'GET', url: `/api/sessions/${sessionId}/connection-status`, headers: auth })).json().data
  t.match(await status(), { connected: true, state: 'connected' })

  // The worker records the drop and announces it: the very next request shows it.
  await prisma.session.update({ where: { id: sessionId }, data: { state: 'connecting' } })
  const heard = nextValue<void>(cb => { const off = fastify.events.onEvent(() => { off(); cb() }) })
  await redis.publish(eventsChannel(prefix), JSON.stringify({ event: 'connection-status', data: { sessionId, connected: false, ownNumber: '4915100000000', status: 'connecting' } }))
  await heard
  t.match(await status(), { connected: false, state: 'connecting' }, 'announced: visible at once')

  // Nothing announces an owner's lease lapsing: it shows once the cached answer is older than the bound.
  await prisma.session.update({ where: { id: sessionId }, data: { state: 'connected' } })
  await redis.publish(eventsChannel(prefix), JSON.stringify({ event: 'connection-status', data: { sessionId, connected: true, ownNumber: '4915100000000', status: 'connected' } }))
  t.ok(await eventually(async () => (await status()).connected === true), 'connected again')
  await expireWorker(redis, prefix, 'w1')
  t.match(await status(), { connected: true }, 'unannounced: still the cached answer while it is fresh')
  clock.advance(CONNECTION_STATUS_FRESH_MS)
  // The clock stands still from here: the change must show without the entry reaching its maximum age.
  t.ok(await eventually(async () => (await status()).connected === false), `unannounced: visible once the answer is ${CONNECTION_STATUS_FRESH_MS} ms old`)

  // Concurrent requests share one read.
  const many = await Promise.all(Array.from({ length: 20 }, status))
  t.ok(many.every(s => s.connected === false && s.state === 'disconnected'), 'twenty concurrent reads agree')
})

t.test('an aging connection status answers at once and is read again behind it; past the maximum age it is read first', async t => {
  const { fastify } = await app(t)
  await fastify.events.subscribed()
  const sessionId = sessionName()
  await insertSession(sessionId, { state: 'connecting' })
  const status = async () => (await fastify.inject({ method: 'GET', url: `/api/sessions/${sessionId}/connection-status`, headers: auth })).json().data
  t.match(await status(), { state: 'connecting' })

  // A change nothing announces: between the two bounds the cached answer still comes first ...
  await prisma.session.update({ where: { id: sessionId }, data: { state: 'disconnected' } })
  clock.advance(CONNECTION_STATUS_FRESH_MS)
  t.match(await status(), { state: 'connecting' }, 'answered from memory while it is read again')
  // ... and the read made behind it answers the next requests (the clock stands still meanwhile).
  t.ok(await eventually(async () => (await status()).state === 'disconnected'), 'the new state shows without waiting out the entry')

  // Past the maximum age the request itself reads again.
  await prisma.session.update({ where: { id: sessionId }, data: { state: 'connecting' } })
  clock.advance(CONNECTION_STATUS_MAX_AGE_MS)
  t.match(await status(), { state: 'connecting' }, 'the first request after the maximum age sees the change')
})

t.test('DELETE /api/sessions/:sessionId with no worker alive deletes the rows and announces it', async t => {
  const { fastify, prefix } = await app(t)
  const events = await listen(t, prefix)
  const sessionId = sessionName()
  await insertSession(sessionId)
  await prisma.authCreds.create({ data: { sessionId, creds: { me: 'x' } } })
  await prisma.authKey.create({ data: { sessionId, type: 'pre-key', id: '1', value: { k: 1 } } })
  const status = await prisma.status.create({ data: { id: crypto.randomUUID(), sessionId, type: 'text', content: 'hi' } })
  await prisma.statusViewer.create({ data: { statusId: status.id, sessionId, viewerNumber: '4915100000001', viewedAt: new Date() } })

  const res = await fastify.inject({ method: 'DELETE', url: `/api/sessions/${sessionId}`, headers: auth })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { success: true, data: { sessionId, deleted: true } })
  t.equal(await prisma.session.count({ where: { id: sessionId } }), 0)
  t.equal(await prisma.authCreds.count({ where: { sessionId } }), 0)
  t.equal(await prisma.authKey.count({ where: { sessionId } }), 0)
  t.equal(await prisma.status.count({ where: { sessionId } }), 0)
  t.equal(await prisma.statusViewer.count({ where: { sessionId } }), 0)
  t.ok(await eventually(() => events.some(e => e.event === 'session-deleted' && e.data.sessionId === sessionId)), 'session-deleted published')

  const again = await fastify.inject({ method: 'DELETE', url: `/api/sessions/${sessionId}`, headers: auth })
  t.equal(again.statusCode, 404)
  t.equal(again.json().code, 'SESSION_NOT_FOUND')
})

t.test('commands to a live worker that does not answer: 504, and the job stays queued', async t => {
  const { fastify, prefix } = await app(t)
  await registerWorker(redis, prefix, 'w1')
  const queue = await inspectQueue(t, prefix, 'w1')
  const pairing = sessionName()
  await insertSession(pairing)

  const cases: Array<[string, string, Record<string, unknown> | undefined, string]> = [
    ['DELETE', `/api/sessions/${pairing}`, undefined, 'delete-session'],
    ['POST', `/api/sessions/${pairing}/restart`, undefined, 'restart-session'],
    ['PUT', `/api/sessions/${pairing}/phone-number`, { phoneNumber: '+1 (555) 010-9999' }, 'update-phone-number'],
    ['POST', `/api/sessions/${pairing}/request-pairing-code`, undefined, 'request-pairing-code']
  ]
  for (const [method, url, payload, command] of cases) {
    const res = await fastify.inject({ method: method as 'POST', url, headers: auth, ...(payload ? { payload } : {}) })
    t.equal(res.statusCode, 504, command)
    t.equal(res.json().code, 'WORKER_TIMEOUT', command)
  }
  const jobs = await queue.getJobs(['waiting'])
  t.same(jobs.map(j => j.name).sort(), cases.map(c => c[3]).sort(), 'one job per command, never lost')
  const update = jobs.find(j => j.name === 'update-phone-number')
  t.same(update?.data.payload, { sessionId: pairing, phoneNumber: '15550109999' }, 'the number travels normalized')
  t.equal(await prisma.session.count({ where: { id: pairing } }), 1, 'the worker deletes, not the API, while one is alive')
})

t.test('commands with no worker alive: 503 NO_WORKER', async t => {
  const { fastify } = await app(t)
  const sessionId = sessionName()
  await insertSession(sessionId)
  for (const [method, url, payload] of [
    ['POST', `/api/sessions/${sessionId}/restart`, undefined],
    ['PUT', `/api/sessions/${sessionId}/phone-number`, { phoneNumber: '4915123456780' }],
    ['POST', `/api/sessions/${sessionId}/request-pairing-code`, undefined]
  ] as const) {
    const res = await fastify.inject({ method, url, headers: auth, ...(payload ? { payload } : {}) })
    t.equal(res.statusCode, 503, url)
    t.equal(res.json().code, 'NO_WORKER', url)
    t.match(res.json().error, /no worker is available/i)
  }
})

t.test('the owner\'s queue gets the command; an orphan goes to the least-loaded live worker', async t => {
  const { fastify, prefix } = await app(t)
  await registerWorker(redis, prefix, 'busy', 5)
  await registerWorker(redis, prefix, 'idle', 1)
  const busy = await inspectQueue(t, prefix, 'busy')
  const idle = await inspectQueue(t, prefix, 'idle')
  const owned = sessionName()
  const orphan = sessionName()
  await insertSession(owned)
  await insertSession(orphan)
  await setOwner(redis, prefix, owned, 'busy')
  await setOwner(redis, prefix, orphan, 'gone')

  await fastify.inject({ method: 'POST', url: `/api/sessions/${owned}/restart`, headers: auth })
  await fastify.inject({ method: 'POST', url: `/api/sessions/${orphan}/restart`, headers: auth })
  t.same((await busy.getJobs(['waiting'])).map(j => j.data.payload.sessionId), [owned])
  t.same((await idle.getJobs(['waiting'])).map(j => j.data.payload.sessionId), [orphan])
})

t.test('phone-number and pairing-code conflicts, validation and not-found', async t => {
  const { fastify } = await app(t)
  const qr = sessionName()
  const connected = sessionName()
  const waiting = sessionName()
  await insertSession(qr, { authMethod: 'qrcode', phoneNumber: null, qrCode: 'data:image/png;base64,AAAA', state: 'awaiting_qr' })
  await insertSession(connected, { state: 'connected', pairingCode: 'OLDCODE1' })
  await insertSession(waiting, { state: 'awaiting_pairing', pairingCode: 'ABCD1234' })

  const put = (id: string, phoneNumber: unknown) =>
    fastify.inject({ method: 'PUT', url: `/api/sessions/${id}/phone-number`, headers: auth, payload: { phoneNumber } })
  t.equal((await put(qr, '4915123456789')).json().code, 'SESSION_NOT_PAIRING')
  t.equal((await put(qr, '4915123456789')).statusCode, 409)
  t.equal((await put(connected, '4915123456789')).statusCode, 409)
  t.equal((await put(connected, '4915123456789')).json().code, 'SESSION_ALREADY_CONNECTED')
  const bad = await put(waiting, '12')
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().details[0].field, 'body.phoneNumber')
  const missing = await fastify.inject({ method: 'PUT', url: `/api/sessions/${waiting}/phone-number`, headers: auth, payload: {} })
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().details[0].field, 'body.phoneNumber')
  t.equal((await put('nope-404', '4915123456789')).statusCode, 404)

  const code = await fastify.inject({ method: 'GET', url: `/api/sessions/${waiting}/pairing-code`, headers: auth })
  t.equal(code.statusCode, 200)
  t.same(code.json().data, { sessionId: waiting, pairingCode: 'ABCD1234', phoneNumber: '4915123456789' })
  for (const id of [qr, connected]) {
    const none = await fastify.inject({ method: 'GET', url: `/api/sessions/${id}/pairing-code`, headers: auth })
    t.equal(none.statusCode, 404)
    t.equal(none.json().code, 'PAIRING_CODE_NOT_FOUND')
  }
  t.equal((await fastify.inject({ method: 'GET', url: '/api/sessions/nope-404/pairing-code', headers: auth })).json().code, 'SESSION_NOT_FOUND')

  const request = (id: string) => fastify.inject({ method: 'POST', url: `/api/sessions/${id}/request-pairing-code`, headers: auth })
  t.equal((await request(connected)).statusCode, 409)
  t.equal((await request(connected)).json().code, 'SESSION_ALREADY_CONNECTED')
  t.equal((await request(qr)).json().code, 'SESSION_NOT_PAIRING')
  t.equal((await request('nope-404')).statusCode, 404)
  t.equal((await fastify.inject({ method: 'POST', url: '/api/sessions/nope-404/restart', headers: auth })).statusCode, 404)
})

t.test('database unreachable: 503 DEPENDENCY_UNAVAILABLE, not a 500', async t => {
  const down = createPrisma('postgresql://postgres@127.0.0.1:1/nowhere', { connectionTimeoutMs: 500 })
  t.teardown(() => down.$disconnect())
  const fastify = await build(t, { db: { prisma: down, url: 'postgresql://postgres@127.0.0.1:1/nowhere' } })
  for (const url of ['/api/sessions', `/api/sessions/${sessionName()}`]) {
    const res = await fastify.inject({ method: 'GET', url, headers: auth })
    t.equal(res.statusCode, 503, url)
    t.equal(res.json().code, 'DEPENDENCY_UNAVAILABLE', url)
    t.notMatch(res.body, /127\.0\.0\.1|ECONNREFUSED/, 'no internals leak')
  }
  t.equal((await fastify.inject({ method: 'GET', url: '/readyz' })).statusCode, 503, 'SELECT 1 fails the readiness check')
})
