import { randomUUID } from 'node:crypto'
import t from 'tap'
import {
  auth,
  build,
  createPublisher,
  expireWorker,
  inspectQueue,
  registerWorker,
  sessionName,
  setOwner,
  testDatabase,
  type Tap
} from '../../helper.ts'
import { audienceListGoneReason, audienceTooLargeReason } from '@wss/shared'

const db = await testDatabase(t)
const { prisma } = db
const redis = await createPublisher(t)

/** An app, a live worker that never answers, and a session it owns, connected. */
async function connected (t: Tap, env: Record<string, string> = {}) {
  const app = await build(t, { db, env: { SEND_TIMEOUT_MS: '150', COMMAND_TIMEOUT_MS: '150', ...env } })
  const prefix = app.config.REDIS_PREFIX
  const sessionId = sessionName()
  await prisma.session.create({
    data: { id: sessionId, name: 'S', authMethod: 'pairing', phoneNumber: '4915123456789', state: 'connected', ownNumber: '4915123456789' }
  })
  await registerWorker(redis, prefix, 'w1')
  await setOwner(redis, prefix, sessionId, 'w1')
  const queue = await inspectQueue(t, prefix, 'w1')
  const send = (payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: `/api/sessions/${sessionId}/send-status`, headers: { ...auth, ...headers }, payload })
  return { app, prefix, sessionId, queue, send }
}

async function upload (kind: 'image' | 'video', expiresAt: Date | null = new Date(Date.now() + 3600_000)) {
  const id = `${Math.floor(Date.now() / 1000)}-${randomUUID().replaceAll('-', '').slice(0, 16)}.${kind === 'image' ? 'jpg' : 'mp4'}`
  await prisma.upload.create({
    data: { id, kind, mimeType: kind === 'image' ? 'image/jpeg' : 'video/mp4', size: 3, sha256: 'x', data: new Uint8Array([1, 2, 3]), expiresAt }
  })
  return id
}

t.test('send-status: 202 with the pending status when the worker does not ack in time', async t => {
  const { sessionId, queue, send } = await connected(t)
  const res = await send({ type: 'text', content: 'Hello', targetNumbers: '+49 151 1111111, 4915122222222 ,,', backgroundColor: '#25D366', font: 3 })
  t.equal(res.statusCode, 202)
  const status = res.json().data
  t.match(status, {
    sessionId,
    type: 'text',
    content: 'Hello',
    caption: null,
    targetNumbers: ['491511111111', '4915122222222'],
    backgroundColor: '#25d366',
    font: 3,
    state: 'pending',
    error: null,
    sentAt: null,
    expiresAt: null,
    viewCount: 0
  })
  t.match(status.id, /^[0-9a-f-]{36}$/)
  const row = await prisma.status.findUniqueOrThrow({ where: { id: status.id } })
  t.equal(row.state, 'pending')
  t.same(row.targetNumbers, ['491511111111', '4915122222222'])

  const jobs = await queue.getJobs(['waiting'])
  t.equal(jobs.length, 1)
  t.equal(jobs[0]!.name, 'send-status')
  t.same(jobs[0]!.data.payload, { sessionId, statusId: status.id })
  t.equal(jobs[0]!.id, `send-status-${status.id}`, 'the job id comes from the status id')
})

t.test('send-status: an array of targetNumbers, the own number when absent', async t => {
  const { send } = await connected(t)
  const arr = await send({ type: 'url', content: 'https://example.com/a', targetNumbers: ['+1 555 010 9999', '15550109999'] })
  t.equal(arr.statusCode, 202)
  t.same(arr.json().data.targetNumbers, ['15550109999'], 'normalized and deduplicated')
  const none = await send({ type: 'text', content: 'only me' })
  t.same(none.json().data.targetNumbers, [])
})

t.test('send-status: Idempotency-Key returns the first status and enqueues nothing more', async t => {
  const { send, queue, sessionId } = await connected(t)
  const headers = { 'idempotency-key': `key-${randomUUID()}` }
  const first = await send({ type: 'text', content: 'once' }, headers)
  t.equal(first.statusCode, 202)
  const second = await send({ type: 'text', content: 'once' }, headers)
  t.equal(second.statusCode, 202)
  t.equal(second.json().data.id, first.json().data.id, 'the same status')
  t.equal(second.headers['idempotent-replayed'], 'true')
  t.equal(await queue.count(), 1, 'no second job')
  t.equal(await prisma.status.count({ where: { sessionId } }), 1, 'no second row')

  // Concurrent retries with a fresh key still make one status and one job.
  const key = { 'idempotency-key': `key-${randomUUID()}` }
  const race = await Promise.all([1, 2, 3].map(() => send({ type: 'text', content: 'race' }, key)))
  t.equal(new Set(race.map(r => r.json().data.id)).size, 1)
  t.equal(await queue.count(), 2)

  // The same key on another session is another request.
  const other = await connected(t)
  const elsewhere = await other.send({ type: 'text', content: 'once' }, headers)
  t.not(elsewhere.json().data.id, first.json().data.id)
})

t.test('send-status: an Idempotency-Key reused with a different request is 422, the same request still replays', async t => {
  const { send, queue, sessionId } = await connected(t)
  const headers = { 'idempotency-key': `key-${randomUUID()}` }
  const first = await send({ type: 'text', content: 'first', targetNumbers: '4915111111111,4915122222222' }, headers)
  t.equal(first.statusCode, 202)
  for (const other of [
    { type: 'text', content: 'second', targetNumbers: '4915111111111,4915122222222' },
    { type: 'text', content: 'first', targetNumbers: '4915111111111' },
    { type: 'text', content: 'first', targetNumbers: '4915111111111,4915122222222', font: 2 }
  ]) {
    const reused = await send(other, headers)
    t.equal(reused.statusCode, 422, JSON.stringify(other))
    t.match(reused.json(), { success: false, code: 'IDEMPOTENCY_KEY_REUSED', error: /different request/, details: { statusId: first.json().data.id } })
  }
  // The same request, spelled differently (an array, another order, spaces), is the same request.
  const same = await send({ type: 'text', content: 'first', targetNumbers: ['+49 151 22222222', '4915111111111'] }, headers)
  t.equal(same.statusCode, 202)
  t.equal(same.json().data.id, first.json().data.id)
  t.equal(await queue.count(), 1, 'nothing else enqueued')
  t.equal(await prisma.status.count({ where: { sessionId } }), 1, 'no second row')
})

t.test('send-status: an audience over MAX_AUDIENCE is 400 naming targetNumbers, as a string or an array', async t => {
  const { send, sessionId } = await connected(t, { MAX_AUDIENCE: '3' })
  const numbers = ['4915111111111', '4915122222222', '4915133333333', '4915144444444']
  for (const targetNumbers of [numbers.join(','), numbers]) {
    const res = await send({ type: 'text', content: 'too many', targetNumbers })
    t.equal(res.statusCode, 400)
    t.match(res.json(), { code: 'VALIDATION', details: [{ field: 'body.targetNumbers', message: /at most 3 \(MAX_AUDIENCE\)/ }] })
  }
  t.equal(await prisma.status.count({ where: { sessionId } }), 0, 'nothing stored')
  const ok = await send({ type: 'text', content: 'fits', targetNumbers: numbers.slice(0, 3).join(',') + ',,' })
  t.equal(ok.statusCode, 202)
})

t.test('send-status: the default audience cap turns a comma string of 70,000 numbers into a 400', async t => {
  const { send } = await connected(t)
  const huge = Array.from({ length: 70_000 }, (_, i) => String(1000000000 + i)).join(',')
  const res = await send({ type: 'text', content: 'spam', targetNumbers: huge })
  t.equal(res.statusCode, 400)
  t.match(res.json(), { details: [{ field: 'body.targetNumbers', message: /at most 5000/ }] })
})

t.test('send-status: a pending status whose job is gone is enqueued again on retry', async t => {
  const { send, queue } = await connected(t)
  const headers = { 'idempotency-key': `key-${randomUUID()}` }
  const first = await send({ type: 'text', content: 'again' }, headers)
  await queue.obliterate({ force: true })
  t.equal(await queue.count(), 0)
  const retry = await send({ type: 'text', content: 'again' }, headers)
  t.equal(retry.json().data.id, first.json().data.id)
  t.equal(await queue.count(), 1, 'the lost job is replaced')
})

t.test('send-status: a retry of a sent status answers 201 without a job; of a failed one 502', async t => {
  const { send, queue } = await connected(t)
  const sentKey = { 'idempotency-key': `key-${randomUUID()}` }
  const sent = await send({ type: 'text', content: 'x' }, sentKey)
  await prisma.status.update({ where: { id: sent.json().data.id }, data: { state: 'sent', sentAt: new Date() } })
  const failedKey = { 'idempotency-key': `key-${randomUUID()}` }
  const failed = await send({ type: 'text', content: 'y' }, failedKey)
  await prisma.status.update({ where: { id: failed.json().data.id }, data: { state: 'failed', error: 'error ack 479' } })
  await queue.obliterate({ force: true })

  const again = await send({ type: 'text', content: 'x' }, sentKey)
  t.equal(again.statusCode, 201)
  t.equal(again.json().data.state, 'sent')
  const refused = await send({ type: 'text', content: 'y' }, failedKey)
  t.equal(refused.statusCode, 502)
  t.match(refused.json(), { code: 'WHATSAPP_REFUSED', error: 'error ack 479', details: { statusId: failed.json().data.id } })
  t.equal(await queue.count(), 0)
})

t.test('send-status: a retry of a status failed for its audience answers that audience\'s own code', async t => {
  const { send, queue } = await connected(t)
  const cases: Array<[string, number, string]> = [
    [audienceTooLargeReason(5, 3), 422, 'AUDIENCE_TOO_LARGE'],
    [audienceListGoneReason(randomUUID()), 404, 'AUDIENCE_LIST_NOT_FOUND']
  ]
  for (const [error, statusCode, code] of cases) {
    const key = { 'idempotency-key': `key-${randomUUID()}` }
    const first = await send({ type: 'text', content: code, audience: { type: 'contacts' } }, key)
    // As the worker leaves it when the audience fails at send time.
    await prisma.status.update({ where: { id: first.json().data.id }, data: { state: 'failed', error } })
    const again = await send({ type: 'text', content: code, audience: { type: 'contacts' } }, key)
    t.equal(again.statusCode, statusCode, again.body)
    t.match(again.json(), { code, error, details: { statusId: first.json().data.id } })
  }
  await queue.obliterate({ force: true })
})

t.test('send-status: validation names the field', async t => {
  const { send, sessionId } = await connected(t)
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['missing type', { content: 'x' }, 'body.type'],
    ['bad type', { type: 'sticker', content: 'x' }, 'body.type'],
    ['missing content', { type: 'text' }, 'body.content'],
    ['empty content', { type: 'text', content: '' }, 'body.content'],
    ['blank text', { type: 'text', content: '   ' }, 'body.content'],
    ['caption on text', { type: 'text', content: 'x', caption: 'c' }, 'body.caption'],
    ['caption on url', { type: 'url', content: 'https://example.com', caption: 'c' }, 'body.caption'],
    ['backgroundColor on image', { type: 'image', content: 'https://example.com/a.jpg', backgroundColor: '#000000' }, 'body.backgroundColor'],
    ['font on video', { type: 'video', content: 'https://example.com/a.mp4', font: 1 }, 'body.font'],
    ['bad color', { type: 'text', content: 'x', backgroundColor: 'red' }, 'body.backgroundColor'],
    ['font out of range', { type: 'text', content: 'x', font: 11 }, 'body.font'],
    ['url that is not a URL', { type: 'url', content: 'not a link' }, 'body.content'],
    ['url with another scheme', { type: 'url', content: 'ftp://example.com/x' }, 'body.content'],
    ['media with another scheme', { type: 'image', content: 'file:///etc/passwd' }, 'body.content'],
    ['bad number in a string', { type: 'text', content: 'x', targetNumbers: '4915123456789,12ab' }, 'body.targetNumbers[1]'],
    ['bad number in an array', { type: 'text', content: 'x', targetNumbers: ['123'] }, 'body.targetNumbers[0]']
  ]
  for (const [name, payload, field] of cases) {
    const res = await send(payload)
    t.equal(res.statusCode, 400, name)
    t.equal(res.json().code, 'VALIDATION', name)
    t.equal(res.json().details?.[0]?.field, field, name)
    t.match(res.json().error, field, `${name}: the message names it`)
  }
  t.match((await send({ type: 'text', content: 'x', targetNumbers: '4915123456789,12ab' })).json().error, /"12ab"/, 'names the bad entry')
  const noCaption = await send({ type: 'text', content: 'x', caption: '' })
  t.equal(noCaption.statusCode, 202, 'an empty caption is no caption')
  t.equal(noCaption.json().data.caption, null)
  await prisma.status.deleteMany({ where: { sessionId } })
  t.equal(await prisma.status.count({ where: { sessionId } }), 0)
})

t.test('send-status: media content is an upload of the right kind, or an http(s) URL', async t => {
  const { send, queue } = await connected(t)
  const image = await upload('image')
  const video = await upload('video')
  const expired = await upload('image', new Date(Date.now() - 1000))

  const ok = await send({ type: 'image', content: image, caption: 'look' })
  t.equal(ok.statusCode, 202)
  t.match(ok.json().data, { type: 'image', content: image, caption: 'look' })
  const row = await prisma.status.findUniqueOrThrow({ where: { id: ok.json().data.id } })
  t.equal(row.uploadId, image)
  const used = await prisma.upload.findUniqueOrThrow({ where: { id: image } })
  t.equal(used.expiresAt, null, 'a used upload no longer expires by itself')
  t.ok(used.lastUsedAt !== null && Date.now() - used.lastUsedAt.getTime() < 10_000, 'lastUsedAt set')

  t.equal((await send({ type: 'video', content: 'https://cdn.example.com/v.mp4' })).statusCode, 202)
  t.equal((await send({ type: 'video', content: video })).statusCode, 202)

  for (const [name, payload] of [
    ['unknown file', { type: 'image', content: '1730000000-abcdef12.jpg' }],
    ['a video as an image', { type: 'image', content: video }],
    ['an expired upload', { type: 'image', content: expired }],
    ['a path', { type: 'image', content: '../../etc/passwd' }]
  ] as const) {
    const res = await send(payload)
    t.equal(res.statusCode, 404, name)
    t.equal(res.json().code, 'FILE_NOT_FOUND', name)
  }
  t.equal(await queue.count(), 3)
})

t.test('send-status: 404 unknown session, 409 when not connected (by row or by lease)', async t => {
  const { app, prefix, sessionId, send, queue } = await connected(t)
  const missing = await app.inject({ method: 'POST', url: '/api/sessions/nope-404/send-status', headers: auth, payload: { type: 'text', content: 'x' } })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'SESSION_NOT_FOUND')

  await expireWorker(redis, prefix, 'w1')
  const lapsed = await send({ type: 'text', content: 'x' })
  t.equal(lapsed.statusCode, 409, 'the row says connected but the owner\'s lease is gone')
  t.equal(lapsed.json().code, 'SESSION_NOT_CONNECTED')

  await registerWorker(redis, prefix, 'w1')
  await prisma.session.update({ where: { id: sessionId }, data: { state: 'disconnected' } })
  const down = await send({ type: 'text', content: 'x' })
  t.equal(down.statusCode, 409)
  t.equal(await queue.count(), 0)
  t.equal(await prisma.status.count({ where: { sessionId } }), 0)
})

async function seedStatuses (sessionId: string) {
  const now = Date.now()
  const mk = async (minutesAgo: number, data: Record<string, unknown> = {}) => {
    const row = await prisma.status.create({
      data: { id: randomUUID(), sessionId, type: 'text', content: `${minutesAgo} min ago`, createdAt: new Date(now - minutesAgo * 60_000), ...data }
    })
    return row.id
  }
  const recentSent = await mk(10, { state: 'sent', sentAt: new Date(now - 9 * 60_000), expiresAt: new Date(now + 23 * 3600_000) })
  const pending = await mk(5)
  const old = await mk(3 * 24 * 60, { state: 'sent', sentAt: new Date(now - 3 * 24 * 3600_000) })
  const failed = await mk(60, { state: 'failed', error: 'refused' })
  for (const [i, n] of ['4915100000003', '4915100000001', '4915100000002'].entries()) {
    await prisma.statusViewer.create({ data: { statusId: recentSent, sessionId, viewerNumber: n, viewedAt: new Date(now - (5 - i) * 60_000) } })
  }
  await prisma.statusViewer.create({ data: { statusId: old, sessionId, viewerNumber: '4915100000009', viewedAt: new Date(now - 3 * 24 * 3600_000) } })
  return { recentSent, pending, old, failed }
}

t.test('GET statuses: the last 24 hours, newest first, with view counts; paging', async t => {
  const { app, sessionId } = await connected(t)
  const ids = await seedStatuses(sessionId)
  const res = await app.inject({ method: 'GET', url: `/api/sessions/${sessionId}/statuses`, headers: auth })
  t.equal(res.statusCode, 200)
  const list = res.json().data
  t.same(list.map((s: { id: string }) => s.id), [ids.pending, ids.recentSent, ids.failed], 'newest first, older than 24 h left out')
  t.same(list.map((s: { viewCount: number }) => s.viewCount), [0, 3, 0])
  t.match(list[1], { state: 'sent', sentAt: String, expiresAt: String })
  t.match(list[2], { state: 'failed', error: 'refused' })
  t.notOk('nextCursor' in res.json())

  const p1 = (await app.inject({ method: 'GET', url: `/api/sessions/${sessionId}/statuses?limit=2`, headers: auth })).json()
  t.same(p1.data.map((s: { id: string }) => s.id), [ids.pending, ids.recentSent])
  t.type(p1.nextCursor, 'string')
  const p2 = (await app.inject({ method: 'GET', url: `/api/sessions/${sessionId}/statuses?limit=2&cursor=${p1.nextCursor}`, headers: auth })).json()
  t.same(p2.data.map((s: { id: string }) => s.id), [ids.failed])
  t.equal(p2.nextCursor, null)

  t.equal((await app.inject({ method: 'GET', url: '/api/sessions/nope-404/statuses', headers: auth })).statusCode, 404)
})

t.test('GET one status (any age), its viewers oldest first, and the 404s', async t => {
  const { app, sessionId } = await connected(t)
  const ids = await seedStatuses(sessionId)
  const old = await app.inject({ method: 'GET', url: `/api/sessions/${sessionId}/statuses/${ids.old}`, headers: auth })
  t.equal(old.statusCode, 200)
  t.match(old.json().data, { id: ids.old, state: 'sent', viewCount: 1 })

  const viewers = await app.inject({ method: 'GET', url: `/api/sessions/${sessionId}/statuses/${ids.recentSent}/viewers`, headers: auth })
  t.equal(viewers.statusCode, 200)
  const list = viewers.json().data
  t.same(list.map((v: { viewerNumber: string }) => v.viewerNumber), ['4915100000003', '4915100000001', '4915100000002'], 'oldest view first')
  t.ok(list.every((v: { viewedAt: string }) => new Date(v.viewedAt).toISOString() === v.viewedAt), 'ISO 8601')
  const page = (await app.inject({ method: 'GET', url: `/api/sessions/${sessionId}/statuses/${ids.recentSent}/viewers?limit=2`, headers: auth })).json()
  t.equal(page.data.length, 2)
  const rest = (await app.inject({ method: 'GET', url: `/api/sessions/${sessionId}/statuses/${ids.recentSent}/viewers?limit=2&cursor=${page.nextCursor}`, headers: auth })).json()
  t.same(rest.data.map((v: { viewerNumber: string }) => v.viewerNumber), ['4915100000002'])
  t.equal(rest.nextCursor, null)

  const other = await connected(t)
  for (const [url, code] of [
    [`/api/sessions/${sessionId}/statuses/${randomUUID()}`, 'STATUS_NOT_FOUND'],
    [`/api/sessions/${sessionId}/statuses/not-a-uuid`, 'STATUS_NOT_FOUND'],
    [`/api/sessions/${other.sessionId}/statuses/${ids.old}`, 'STATUS_NOT_FOUND'],
    [`/api/sessions/nope-404/statuses/${ids.old}`, 'SESSION_NOT_FOUND'],
    [`/api/sessions/${sessionId}/statuses/${randomUUID()}/viewers`, 'STATUS_NOT_FOUND']
  ] as const) {
    const res = await app.inject({ method: 'GET', url, headers: auth })
    t.equal(res.statusCode, 404, url)
    t.equal(res.json().code, code, url)
  }
})

t.test('DELETE a status: 404, 409 when not connected, 504 when the worker does not answer, a deleted one as it is', async t => {
  const { app, prefix, sessionId, queue } = await connected(t)
  const ids = await seedStatuses(sessionId)
  const del = (id: string) => app.inject({ method: 'DELETE', url: `/api/sessions/${sessionId}/statuses/${id}`, headers: auth })

  t.equal((await del(randomUUID())).statusCode, 404)
  const timeout = await del(ids.recentSent)
  t.equal(timeout.statusCode, 504)
  t.equal(timeout.json().code, 'WORKER_TIMEOUT')
  const jobs = await queue.getJobs(['waiting'])
  t.same(jobs.map(j => [j.name, j.data.payload]), [['delete-status', { sessionId, statusId: ids.recentSent }]])

  await prisma.status.update({ where: { id: ids.old }, data: { state: 'deleted', deletedAt: new Date() } })
  const already = await del(ids.old)
  t.equal(already.statusCode, 200)
  t.equal(already.json().data.state, 'deleted')
  t.equal(await queue.count(), 1, 'nothing to revoke twice')

  await expireWorker(redis, prefix, 'w1')
  const lapsed = await del(ids.recentSent)
  t.equal(lapsed.statusCode, 409)
  t.equal(lapsed.json().code, 'SESSION_NOT_CONNECTED')
})
