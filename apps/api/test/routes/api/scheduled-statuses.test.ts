import t from 'tap'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { SCHEDULE_QUEUE, eventsChannel, parseBusEvent, redisKeys, type BusEvent } from '@wss/shared'
import {
  REDIS_URL,
  auth,
  build,
  createPublisher,
  inspectQueue,
  redisProxy,
  registerWorker,
  sessionName,
  setOwner,
  testDatabase,
  type Tap
} from '../../helper.ts'

const db = await testDatabase(t)
const { prisma } = db
const redis = await createPublisher(t)

const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE
const inMs = (ms: number) => new Date(Date.now() + ms).toISOString()

/** An app, a session (connected to a live worker that never answers, unless `state` says otherwise), and the queues to look into. */
async function setup (t: Tap, state: 'connected' | 'disconnected' = 'connected') {
  const app = await build(t, { db, env: { SEND_TIMEOUT_MS: '150', COMMAND_TIMEOUT_MS: '150' } })
  const prefix = app.config.REDIS_PREFIX
  const sessionId = sessionName()
  await prisma.session.create({
    data: { id: sessionId, name: 'S', authMethod: 'pairing', phoneNumber: '4915123456789', state, ownNumber: '4915123456789' }
  })
  await registerWorker(redis, prefix, 'w1')
  await setOwner(redis, prefix, sessionId, 'w1')
  const commands = await inspectQueue(t, prefix, 'w1')
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  const schedule = new Queue(SCHEDULE_QUEUE, { connection, prefix: redisKeys(prefix).bull })
  const events: BusEvent[] = []
  const subscriber = new Redis(REDIS_URL)
  await subscriber.subscribe(eventsChannel(prefix))
  subscriber.on('message', (_channel, message: string) => {
    const event = parseBusEvent(message)
    if (event !== null) events.push(event)
  })
  t.teardown(async () => {
    await schedule.close()
    connection.disconnect()
    subscriber.disconnect()
  })
  const base = `/api/sessions/${sessionId}`
  const send = (payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: `${base}/send-status`, headers: { ...auth, ...headers }, payload })
  const patch = (id: string, payload: Record<string, unknown>) =>
    app.inject({ method: 'PATCH', url: `${base}/statuses/${id}`, headers: auth, payload })
  const remove = (id: string) => app.inject({ method: 'DELETE', url: `${base}/statuses/${id}`, headers: auth })
  const list = (query = '') => app.inject({ method: 'GET', url: `${base}/statuses${query}`, headers: auth })
  return { app, sessionId, commands, schedule, events, send, patch, remove, list }
}

t.test('send-status with scheduledAt: 202 scheduled, one delayed job, nothing sent, even while the session is not connected', async t => {
  const { sessionId, commands, schedule, send } = await setup(t, 'disconnected')
  const at = inMs(10 * MINUTE)
  const res = await send({ type: 'text', content: 'later', targetNumbers: '4915111111111', scheduledAt: at })
  t.equal(res.statusCode, 202)
  const status = res.json().data
  t.match(status, { sessionId, state: 'scheduled', content: 'later', scheduledAt: at, sentAt: null })
  const row = await prisma.status.findUniqueOrThrow({ where: { id: status.id } })
  t.equal(row.state, 'scheduled')
  t.equal(row.scheduledAt?.toISOString(), at)

  t.equal((await commands.getJobs(['waiting', 'delayed'])).length, 0, 'no send command is queued now')
  const jobs = await schedule.getJobs(['delayed'])
  t.equal(jobs.length, 1)
  t.equal(jobs[0]!.id, `sched-${status.id}-v0`)
  t.same(jobs[0]!.data, { sessionId, statusId: status.id, version: 0 })
  t.ok(Math.abs(jobs[0]!.timestamp + (jobs[0]!.opts.delay ?? 0) - Date.parse(at)) < 5000, 'the job is due at scheduledAt')
})

t.test('send-status: scheduledAt in the past, more than 30 days ahead, or not a date-time is a coded 400; nothing is stored', async t => {
  const { sessionId, schedule, send } = await setup(t)
  const past = await send({ type: 'text', content: 'x', scheduledAt: inMs(-MINUTE) })
  t.equal(past.statusCode, 400)
  t.match(past.json(), { success: false, code: 'SCHEDULED_AT_PAST', error: /scheduledAt/ })
  const far = await send({ type: 'text', content: 'x', scheduledAt: inMs(31 * DAY) })
  t.equal(far.statusCode, 400)
  t.match(far.json(), { success: false, code: 'SCHEDULED_AT_TOO_FAR', error: /30 days/ })
  const bad = await send({ type: 'text', content: 'x', scheduledAt: 'tomorrow' })
  t.equal(bad.statusCode, 400)
  t.match(bad.json(), { success: false, code: 'VALIDATION', error: /scheduledAt/ })
  t.equal(await prisma.status.count({ where: { sessionId } }), 0)
  t.equal((await schedule.getJobs(['delayed', 'waiting'])).length, 0)
  const ok = await send({ type: 'text', content: 'x', scheduledAt: inMs(29 * DAY) })
  t.equal(ok.statusCode, 202, '29 days ahead is accepted')
})

t.test('GET statuses: state=scheduled lists every scheduled status soonest first; the default list leaves them out', async t => {
  const { send, list, remove } = await setup(t)
  const late = (await send({ type: 'text', content: 'late', scheduledAt: inMs(5 * DAY) })).json().data
  const soon = (await send({ type: 'text', content: 'soon', scheduledAt: inMs(10 * MINUTE) })).json().data
  const gone = (await send({ type: 'text', content: 'gone', scheduledAt: inMs(20 * MINUTE) })).json().data
  t.equal((await remove(gone.id)).statusCode, 200)
  const now = (await send({ type: 'text', content: 'now' })).json().data

  const scheduled = await list('?state=scheduled')
  t.equal(scheduled.statusCode, 200)
  t.same(scheduled.json().data.map((s: { id: string }) => s.id), [soon.id, late.id])
  const page = await list('?state=scheduled&limit=1')
  t.same(page.json().data.map((s: { id: string }) => s.id), [soon.id])
  const next = await list(`?state=scheduled&limit=1&cursor=${encodeURIComponent(page.json().nextCursor)}`)
  t.same(next.json().data.map((s: { id: string }) => s.id), [late.id], 'the cursor pages on')

  t.same((await list()).json().data.map((s: { id: string }) => s.id), [now.id], 'scheduled and cancelled ones are not in the default list')
  t.same((await list('?state=cancelled')).json().data.map((s: { id: string }) => s.id), [gone.id])
  t.equal((await list('?state=nonsense')).statusCode, 400)
})

t.test('PATCH a scheduled status: a new time replaces its job, content is checked as on send; 404 and 409', async t => {
  const { sessionId, schedule, send, patch } = await setup(t)
  const status = (await send({ type: 'text', content: 'v1', scheduledAt: inMs(10 * MINUTE) })).json().data

  const content = await patch(status.id, { content: 'v2', backgroundColor: '#AABBCC', font: 2 })
  t.equal(content.statusCode, 200)
  t.match(content.json().data, { content: 'v2', backgroundColor: '#aabbcc', font: 2, state: 'scheduled', scheduledAt: status.scheduledAt })
  t.same((await schedule.getJobs(['delayed'])).map(j => j.id), [`sched-${status.id}-v0`], 'same time: the same job')

  const at = inMs(2 * DAY)
  const moved = await patch(status.id, { scheduledAt: at, font: null })
  t.equal(moved.statusCode, 200)
  t.match(moved.json().data, { scheduledAt: at, content: 'v2', font: null })
  const row = await prisma.status.findUniqueOrThrow({ where: { id: status.id } })
  t.equal(row.scheduleVersion, 1)
  t.ok((await schedule.getJobs(['delayed'])).some(j => j.id === `sched-${status.id}-v1` && j.data.version === 1), 'a job for the new time')

  const caption = await patch(status.id, { caption: 'no captions on text' })
  t.equal(caption.statusCode, 400)
  t.match(caption.json(), { code: 'VALIDATION', error: /caption/ })
  const past = await patch(status.id, { scheduledAt: inMs(-MINUTE) })
  t.match(past.json(), { code: 'SCHEDULED_AT_PAST' })
  t.equal((await patch(status.id, {})).statusCode, 400, 'an empty change is refused')
  t.equal((await prisma.status.findUniqueOrThrow({ where: { id: status.id } })).content, 'v2', 'refused changes change nothing')

  t.equal((await patch('00000000-0000-4000-8000-000000000000', { content: 'x' })).statusCode, 404)
  await prisma.status.update({ where: { id: status.id }, data: { state: 'pending' } })
  const late = await patch(status.id, { content: 'too late' })
  t.equal(late.statusCode, 409)
  t.match(late.json(), { success: false, code: 'STATUS_NOT_SCHEDULED', error: /pending/ })
  t.equal((await prisma.status.findFirstOrThrow({ where: { id: status.id, sessionId } })).content, 'v2')
})

t.test('PATCH to a new time while Redis is unreachable: 503, and the status stays as it was', async t => {
  const { app, sessionId, schedule, send } = await setup(t)
  const status = (await send({ type: 'text', content: 'before', scheduledAt: inMs(10 * MINUTE) })).json().data
  // Another API node on the same database, whose Redis then goes away.
  const proxy = await redisProxy(t)
  const cut = await build(t, { db, env: { REDIS_URL: proxy.url, REDIS_PREFIX: app.config.REDIS_PREFIX } })
  proxy.cut()
  const res = await cut.inject({ method: 'PATCH', url: `/api/sessions/${sessionId}/statuses/${status.id}`, headers: auth, payload: { scheduledAt: inMs(DAY), content: 'after' } })
  t.equal(res.statusCode, 503, res.body)
  t.equal(res.json().code, 'DEPENDENCY_UNAVAILABLE')
  t.match(await prisma.status.findUniqueOrThrow({ where: { id: status.id } }), { content: 'before', scheduledAt: new Date(status.scheduledAt), scheduleVersion: 0, state: 'scheduled' }, 'the edit was undone')
  t.same((await schedule.getJobs(['delayed'])).map(j => j.id), [`sched-${status.id}-v0`], 'its job still stands')
})

t.test('DELETE a scheduled status cancels it (status-cancelled); again answers it as it is; it can no longer be changed', async t => {
  const { sessionId, commands, events, send, patch, remove } = await setup(t, 'disconnected')
  const status = (await send({ type: 'text', content: 'never', scheduledAt: inMs(10 * MINUTE) })).json().data
  const res = await remove(status.id)
  t.equal(res.statusCode, 200, 'no connection needed to cancel')
  t.match(res.json().data, { id: status.id, state: 'cancelled' })
  t.equal((await prisma.status.findUniqueOrThrow({ where: { id: status.id } })).state, 'cancelled')
  const again = await remove(status.id)
  t.equal(again.statusCode, 200)
  t.equal(again.json().data.state, 'cancelled')
  t.equal((await patch(status.id, { content: 'revive' })).statusCode, 409)
  t.equal((await commands.getJobs(['waiting', 'delayed'])).length, 0, 'nothing is sent or revoked')
  const deadline = Date.now() + 5000
  while (!events.some(e => e.event === 'status-cancelled') && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  t.same(events.filter(e => e.event === 'status-cancelled').map(e => e.data), [{ sessionId, id: status.id }], 'one status-cancelled event')
})

t.test('send-status with scheduledAt and an Idempotency-Key: a retry answers the first status (even once cancelled); another time is 422', async t => {
  const { sessionId, schedule, send, remove } = await setup(t)
  const at = inMs(10 * MINUTE)
  const body = { type: 'text', content: 'once', scheduledAt: at }
  const first = await send(body, { 'idempotency-key': 'k-1' })
  t.equal(first.statusCode, 202)
  const retry = await send(body, { 'idempotency-key': 'k-1' })
  t.equal(retry.statusCode, 202)
  t.equal(retry.headers['idempotent-replayed'], 'true')
  t.equal(retry.json().data.id, first.json().data.id)
  t.equal(await prisma.status.count({ where: { sessionId } }), 1)
  t.equal((await schedule.getJobs(['delayed'])).length, 1)

  const other = await send({ ...body, scheduledAt: inMs(20 * MINUTE) }, { 'idempotency-key': 'k-1' })
  t.equal(other.statusCode, 422)
  t.match(other.json(), { code: 'IDEMPOTENCY_KEY_REUSED' })

  await remove(first.json().data.id)
  const after = await send(body, { 'idempotency-key': 'k-1' })
  t.equal(after.statusCode, 202)
  t.equal(after.json().data.state, 'cancelled', 'the retry sees the status as it is')
})
