// `POST /api/statuses`: one post from many sessions, all checked before anything is stored.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { Redis } from 'ioredis'
import { eventsChannel, parseBusEvent, redisKeys, workerQueueName, type BusEvent } from '@wss/shared'
import { auth, build, createPublisher, eventually, inspectQueue, REDIS_URL, registerWorker, setOwner, testDatabase, type Tap } from '../../helper.ts'
import { createKey, withKey } from '../../key-helper.ts'

const db = await testDatabase(t)
const { prisma } = db
const redis = await createPublisher(t)

/**
 * An app with a live worker that never answers, and sessions `{tag}-a`, `{tag}-b` connected through
 * it and `{tag}-off` not connected. Every test has its own tag (its own sessions).
 */
async function fleet (t: Tap) {
  const app = await build(t, { db })
  const prefix = app.config.REDIS_PREFIX
  const tag = `mp${randomUUID().slice(0, 6)}`
  const ids = { a: `${tag}-a`, b: `${tag}-b`, off: `${tag}-off` }
  await registerWorker(redis, prefix, 'w1')
  for (const [name, id] of Object.entries(ids)) {
    const up = name !== 'off'
    await prisma.session.create({ data: { id, name, authMethod: 'pairing', phoneNumber: '4915123456789', state: up ? 'connected' : 'disconnected', ownNumber: '4915123456789' } })
    if (up) await setOwner(redis, prefix, id, 'w1')
  }
  const queue = await inspectQueue(t, prefix, 'w1')
  const post = (payload: Record<string, unknown>, headers: Record<string, string> = auth) =>
    app.inject({ method: 'POST', url: '/api/statuses', headers, payload })
  const rows = () => prisma.status.findMany({ where: { sessionId: { in: Object.values(ids) } } })
  return { app, tag, ids, queue, post, rows }
}

t.test('sessionIds lists the sessions: 202 with one pending status per session, each queued to its owner', async t => {
  const { ids, queue, post } = await fleet(t)
  const res = await post({ sessionIds: [ids.a, ids.b, ids.a], type: 'text', content: 'from both', audience: { type: 'contacts' }, targetNumbers: '15550001111' })
  t.equal(res.statusCode, 202, res.body)
  const { statuses } = res.json().data
  t.same(statuses.map((s: { sessionId: string }) => s.sessionId).sort(), [ids.a, ids.b].sort(), 'one status per session, repeats ignored')
  t.ok(statuses.every((s: { state: string }) => s.state === 'pending'))
  t.not(statuses[0].id, statuses[1].id)
  const jobs = await queue.getJobs(['waiting'])
  t.same(jobs.map(j => j.id).sort(), statuses.map((s: { id: string }) => `send-status-${s.id}`).sort(), 'each sent as send-status sends')
  for (const s of statuses) {
    const row = await prisma.status.findUniqueOrThrow({ where: { id: s.id } })
    t.match(row, { sessionId: s.sessionId, content: 'from both', targetNumbers: ['15550001111'], audienceSpec: { type: 'contacts' } })
  }
})

t.test('everything is checked before anything is stored: unknown 404, not connected 409, bad body 400', async t => {
  const { ids, post, rows } = await fleet(t)
  const unknown = await post({ sessionIds: [ids.a, 'nobody-1', 'nobody-2'], type: 'text', content: 'x' })
  t.equal(unknown.statusCode, 404)
  t.match(unknown.json(), { code: 'SESSION_NOT_FOUND', error: /nobody-1, nobody-2/, details: { sessionIds: ['nobody-1', 'nobody-2'] } })
  const down = await post({ sessionIds: [ids.a, ids.off], type: 'text', content: 'x' })
  t.equal(down.statusCode, 409)
  t.match(down.json(), { code: 'SESSION_NOT_CONNECTED', details: { sessionIds: [ids.off] } })
  t.equal((await post({ sessionIds: [ids.a], type: 'text', content: 'x', caption: 'no' })).statusCode, 400)
  t.equal((await post({ sessionIds: [], type: 'text', content: 'x' })).statusCode, 400, 'at least one session')
  t.equal((await post({ type: 'text', content: 'x' })).statusCode, 400, 'sessionIds is required')
  const list = await post({ sessionIds: [ids.a], type: 'text', content: 'x', audience: { type: 'list', id: randomUUID() } })
  t.match(list.json(), { code: 'AUDIENCE_LIST_NOT_FOUND' })
  const listId = randomUUID()
  await prisma.audienceList.create({ data: { id: listId, sessionId: ids.a, name: 'a only', numbers: ['15550001111'] } })
  for (const sessionIds of [[ids.a, ids.b], 'all']) {
    const many = await post({ sessionIds, type: 'text', content: 'x', audience: { type: 'list', id: listId } })
    t.equal(many.statusCode, 400, `a list audience from ${JSON.stringify(sessionIds)}`)
    t.match(many.json(), { code: 'VALIDATION', error: /body\.audience.*a list audience needs exactly one session/ })
  }
  t.same(await rows(), [], 'no status was stored')

  const scheduledAt = new Date(Date.now() + 3600_000).toISOString()
  const later = await post({ sessionIds: [ids.a, ids.off], type: 'text', content: 'later', scheduledAt })
  t.equal(later.statusCode, 202, 'a scheduled post may name sessions not connected now')
  t.same(later.json().data.statuses.map((s: { state: string }) => s.state), ['scheduled', 'scheduled'])
})

t.test('"all" is every connected session the key may use; none is 409', async t => {
  const { app, tag, ids, post } = await fleet(t)
  const scoped = await createKey(app, { sessions: [`${tag}-*`], access: 'write' })
  const res = await post({ sessionIds: 'all', type: 'text', content: 'everyone' }, withKey(scoped.key))
  t.equal(res.statusCode, 202, res.body)
  t.same(res.json().data.statuses.map((s: { sessionId: string }) => s.sessionId).sort(), [ids.a, ids.b].sort(), 'connected ones, in scope')

  const nowhere = await createKey(app, { sessions: [`${tag}-off`], access: 'write' })
  const none = await post({ sessionIds: 'all', type: 'text', content: 'nobody' }, withKey(nowhere.key))
  t.equal(none.statusCode, 409)
  t.match(none.json(), { code: 'NO_CONNECTED_SESSIONS' })
  const named = await post({ sessionIds: ['all'], type: 'text', content: 'x' })
  t.match(named.json(), { code: 'SESSION_NOT_FOUND', details: { sessionIds: ['all'] } }, '["all"] names a session called "all"')
})

t.test('"all" stands for at most 1000 sessions, like a list: 400 naming sessionIds beyond', async t => {
  const { app, tag, post } = await fleet(t)
  const prefix = app.config.REDIS_PREFIX
  const many = Array.from({ length: 1000 }, (_, i) => `${tag}-m${i}`)
  await prisma.session.createMany({ data: many.map(id => ({ id, name: id, authMethod: 'pairing', phoneNumber: '4915123456789', state: 'connected', ownNumber: '4915123456789' })) })
  for (const id of many) await setOwner(redis, prefix, id, 'w1')
  const scoped = await createKey(app, { sessions: [`${tag}-*`], access: 'write' })
  const res = await post({ sessionIds: 'all', type: 'text', content: 'too many' }, withKey(scoped.key))
  t.equal(res.statusCode, 400, res.body)
  t.match(res.json(), { code: 'VALIDATION', error: /body\.sessionIds.*"all" is 1002 connected sessions; at most 1000 per post/ })
  t.equal(await prisma.status.count({ where: { sessionId: { startsWith: tag } } }), 0, 'nothing stored')
})

t.test('a scoped key: sessions outside its scope 403 before anything else; a read key 403', async t => {
  const { app, tag, ids, post, rows } = await fleet(t)
  const key = await createKey(app, { sessions: [ids.a], access: 'write' })
  const res = await post({ sessionIds: [ids.a, ids.b, 'nobody-3'], type: 'text', content: 'x' }, withKey(key.key))
  t.equal(res.statusCode, 403)
  t.match(res.json(), { code: 'FORBIDDEN', details: { sessionIds: [ids.b, 'nobody-3'] } })
  const reader = await createKey(app, { sessions: [`${tag}-*`], access: 'read' })
  t.equal((await post({ sessionIds: [ids.a], type: 'text', content: 'x' }, withKey(reader.key))).statusCode, 403)
  t.same(await rows(), [])
})

t.test('Idempotency-Key covers the whole request: the same ids again, a different body 422', async t => {
  const { ids, queue, post, rows } = await fleet(t)
  const headers = { ...auth, 'idempotency-key': `mp-${randomUUID()}` }
  const body = { sessionIds: [ids.a, ids.b], type: 'text', content: 'once', audience: { type: 'contacts', except: ['15550001111'] } }
  const first = await post(body, headers)
  t.equal(first.statusCode, 202)
  const again = await post({ ...body, sessionIds: [ids.b, ids.a] }, headers)
  t.equal(again.statusCode, 202)
  t.equal(again.headers['idempotent-replayed'], 'true')
  const idsOf = (res: typeof first) => res.json().data.statuses.map((s: { id: string }) => s.id).sort()
  t.same(idsOf(again), idsOf(first), 'the same statuses')
  t.equal((await rows()).length, 2, 'no more rows')
  t.equal(await queue.count(), 2, 'no more jobs')
  const other = await post({ ...body, content: 'twice' }, headers)
  t.equal(other.statusCode, 422)
  t.match(other.json(), { code: 'IDEMPOTENCY_KEY_REUSED' })
  const fewer = await post({ ...body, sessionIds: [ids.a] }, headers)
  t.equal(fewer.statusCode, 422, 'other sessions are another request')

  const race = { ...auth, 'idempotency-key': `mp-${randomUUID()}` }
  const answers = await Promise.all([1, 2, 3].map(() => post({ ...body, content: 'race' }, race)))
  t.ok(answers.every(a => a.statusCode === 202), answers.map(a => a.statusCode).join())
  t.equal(new Set(answers.map(a => JSON.stringify(idsOf(a)))).size, 1, 'concurrent retries answer the same ids')
  t.equal((await rows()).filter(r => r.content === 'race').length, 2)
})

/** Makes Redis refuse every job added to a worker's queue (its events stream is not a stream). */
async function breakQueue (t: Tap, prefix: string, workerId: string) {
  const key = `${redisKeys(prefix).bull}:${workerQueueName(workerId)}:events`
  await redis.set(key, 'not a stream')
  t.teardown(() => redis.del(key))
  return () => redis.del(key)
}

async function busEvents (t: Tap, prefix: string) {
  const events: BusEvent[] = []
  const subscriber = new Redis(REDIS_URL)
  await subscriber.subscribe(eventsChannel(prefix))
  subscriber.on('message', (_channel, message: string) => {
    const event = parseBusEvent(message)
    if (event !== null) events.push(event)
  })
  t.teardown(() => subscriber.disconnect())
  return events
}

t.test('a status whose send cannot be queued is failed and answered so; a retry with the same key makes no more', async t => {
  const { app, ids, queue, post, rows } = await fleet(t)
  const prefix = app.config.REDIS_PREFIX
  const events = await busEvents(t, prefix)
  await registerWorker(redis, prefix, 'w2')
  await setOwner(redis, prefix, ids.b, 'w2')
  await breakQueue(t, prefix, 'w2')
  const headers = { ...auth, 'idempotency-key': `mp-${randomUUID()}` }
  const body = { sessionIds: [ids.a, ids.b], type: 'text', content: 'half queued' }
  const res = await post(body, headers)
  t.equal(res.statusCode, 202, res.body)
  const bySession = Object.fromEntries(res.json().data.statuses.map((s: { sessionId: string }) => [s.sessionId, s]))
  t.match(bySession[ids.a], { state: 'pending' })
  t.match(bySession[ids.b], { state: 'failed', error: /could not be queued/ }, 'the answer says which one did not go')
  t.match(await prisma.status.findUniqueOrThrow({ where: { id: bySession[ids.b].id } }), { state: 'failed', error: /could not be queued/ }, 'never pending without a job')
  t.ok(await eventually(() => events.some(e => e.event === 'status-failed' && e.data.id === bySession[ids.b].id), 10_000), 'status-failed published')
  t.equal(await queue.count(), 1, 'the other one is queued')

  const again = await post(body, headers)
  t.equal(again.statusCode, 202)
  t.same(again.json().data.statuses.map((s: { id: string, state: string }) => [s.id, s.state]).sort(), res.json().data.statuses.map((s: { id: string, state: string }) => [s.id, s.state]).sort(), 'the same statuses, as they are')
  t.equal((await rows()).length, 2, 'no more rows')
  t.equal(await queue.count(), 1, 'no more jobs')
})

t.test('a post none of whose statuses can be queued is undone: 503 naming each session; a retry with the same key posts it', async t => {
  const { app, ids, queue, post, rows } = await fleet(t)
  const repair = await breakQueue(t, app.config.REDIS_PREFIX, 'w1')
  const headers = { ...auth, 'idempotency-key': `mp-${randomUUID()}` }
  const body = { sessionIds: [ids.a, ids.b], type: 'text', content: 'not queued' }
  const res = await post(body, headers)
  t.equal(res.statusCode, 503, res.body)
  t.match(res.json(), { code: 'DEPENDENCY_UNAVAILABLE', error: /nothing was posted/ })
  t.same(res.json().details.sessions.map((s: { sessionId: string }) => s.sessionId).sort(), [ids.a, ids.b].sort())
  t.equal((await rows()).length, 0, 'no status left pending without a job')
  await repair()
  const again = await post(body, headers)
  t.equal(again.statusCode, 202, again.body)
  t.equal(again.headers['idempotent-replayed'], undefined, 'posted afresh')
  t.equal((await rows()).length, 2)
  t.equal(await queue.count(), 2)
})
