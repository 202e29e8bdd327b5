// Saved audience lists (`/api/sessions/:sessionId/audiences`) and the `audience` of send-status as
// the API checks and stores it (the worker resolves it when it sends: apps/worker/test/e2e/audiences.test.ts).
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { auth, build, createPublisher, eventually, inspectQueue, registerWorker, sessionName, setOwner, testDatabase, type Tap } from '../../helper.ts'
import { createKey, withKey } from '../../key-helper.ts'

const db = await testDatabase(t)
const { prisma } = db
const redis = await createPublisher(t)

/** An app, a live worker that never answers, and a connected session it owns. */
async function connected (t: Tap, env: Record<string, string> = {}) {
  const app = await build(t, { db, env: { SEND_TIMEOUT_MS: '150', ...env } })
  const prefix = app.config.REDIS_PREFIX
  const sessionId = sessionName('aud')
  await prisma.session.create({ data: { id: sessionId, name: 'S', authMethod: 'pairing', phoneNumber: '4915123456789', state: 'connected', ownNumber: '4915123456789' } })
  await registerWorker(redis, prefix, 'w1')
  await setOwner(redis, prefix, sessionId, 'w1')
  const queue = await inspectQueue(t, prefix, 'w1')
  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, payload?: unknown, headers: Record<string, string> = auth) =>
    app.inject({ method, url: `/api/sessions/${sessionId}${path}`, headers, ...(payload === undefined ? {} : { payload: payload as object }) })
  return { app, sessionId, queue, call }
}

t.test('saved lists: created with normalised numbers, read, listed in pages, renamed, replaced, deleted', async t => {
  const { call, sessionId } = await connected(t)
  const created = await call('POST', '/audiences', { name: '  VIP customers ', numbers: '+49 151 1111111, 4915122222222, (49) 151-1111111' })
  t.equal(created.statusCode, 201, created.body)
  const list = created.json().data
  t.match(list, { sessionId, name: 'VIP customers', numbers: ['491511111111', '4915122222222'] }, 'trimmed name, digits, no repeats')
  t.match(list.id, /^[0-9a-f-]{36}$/)

  t.same((await call('GET', `/audiences/${list.id}`)).json().data, list, 'read back as created')
  for (const name of ['b', 'c']) t.equal((await call('POST', '/audiences', { name, numbers: ['15550001111'] })).statusCode, 201)
  const whole = (await call('GET', '/audiences')).json()
  t.same(whole.data.map((l: { name: string }) => l.name), ['VIP customers', 'b', 'c'], 'oldest first')
  t.equal(whole.nextCursor, undefined, 'no cursor without paging')
  const first = (await call('GET', '/audiences?limit=2')).json()
  t.equal(first.data.length, 2)
  const second = (await call('GET', `/audiences?limit=2&cursor=${first.nextCursor}`)).json()
  t.same(second.data.map((l: { name: string }) => l.name), ['c'])
  t.equal(second.nextCursor, null, 'the last page says so')

  const renamed = await call('PATCH', `/audiences/${list.id}`, { name: 'VIP' })
  t.equal(renamed.statusCode, 200, renamed.body)
  t.match(renamed.json().data, { name: 'VIP', numbers: ['491511111111', '4915122222222'] }, 'numbers kept')
  const replaced = await call('PATCH', `/audiences/${list.id}`, { numbers: ['15550002222'] })
  t.same(replaced.json().data.numbers, ['15550002222'], 'numbers replaced as a whole')

  const deleted = await call('DELETE', `/audiences/${list.id}`)
  t.same(deleted.json(), { success: true, data: { id: list.id, deleted: true } })
  t.match((await call('GET', `/audiences/${list.id}`)).json(), { success: false, code: 'AUDIENCE_LIST_NOT_FOUND' })
  t.equal((await call('DELETE', `/audiences/${list.id}`)).statusCode, 404, 'deleting twice is 404')
})

t.test('saved lists: names unique per session, numbers checked as targetNumbers, the cap, unknown ids and sessions', async t => {
  const { app, call } = await connected(t, { MAX_AUDIENCE: '3' })
  t.equal((await call('POST', '/audiences', { name: 'one', numbers: [] })).statusCode, 201, 'an empty list is a list')
  const dup = await call('POST', '/audiences', { name: 'one', numbers: ['15550001111'] })
  t.equal(dup.statusCode, 409)
  t.match(dup.json(), { code: 'AUDIENCE_LIST_EXISTS', details: [{ field: 'body.name' }] })
  const other = (await call('POST', '/audiences', { name: 'two', numbers: [] })).json().data
  t.match((await call('PATCH', `/audiences/${other.id}`, { name: 'one' })).json(), { code: 'AUDIENCE_LIST_EXISTS' }, 'nor by renaming')

  const bad = await call('POST', '/audiences', { name: 'bad', numbers: ['15550001111', 'call me'] })
  t.equal(bad.statusCode, 400)
  t.match(bad.json(), { code: 'VALIDATION', details: [{ field: 'body.numbers[1]', message: /"call me" is not a phone number/ }] })
  const big = await call('POST', '/audiences', { name: 'big', numbers: '15550000001,15550000002,15550000003,15550000004' })
  t.match(big.json(), { code: 'VALIDATION', details: [{ field: 'body.numbers', message: /at most 3 \(MAX_AUDIENCE\)/ }] })
  for (const name of ['', '   ', 'x'.repeat(101)]) {
    t.equal((await call('POST', '/audiences', { name, numbers: [] })).statusCode, 400, `name ${JSON.stringify(name.slice(0, 5))} refused`)
  }
  t.equal((await call('PATCH', `/audiences/${other.id}`, {})).statusCode, 400, 'a PATCH changes something')

  for (const id of [randomUUID(), 'not-a-uuid']) {
    const res = await call('GET', `/audiences/${id}`)
    t.equal(res.statusCode, 404)
    t.match(res.json(), { code: 'AUDIENCE_LIST_NOT_FOUND', error: new RegExp(`Audience list ${id} not found`) })
  }
  const missing = await app.inject({ method: 'GET', url: '/api/sessions/nobody-here/audiences', headers: auth })
  t.match(missing.json(), { code: 'SESSION_NOT_FOUND' })
  const elsewhere = await connected(t)
  t.match((await elsewhere.call('GET', `/audiences/${other.id}`)).json(), { code: 'AUDIENCE_LIST_NOT_FOUND' }, 'another session\'s list is not found')
})

t.test('saved lists: a scoped key reaches its sessions only; a read key reads', async t => {
  const { app, call, sessionId } = await connected(t)
  const list = (await call('POST', '/audiences', { name: 'mine', numbers: ['15550001111'] })).json().data
  const outsider = await createKey(app, { sessions: ['elsewhere-*'], access: 'write' })
  t.match((await call('GET', `/audiences/${list.id}`, undefined, withKey(outsider.key))).json(), { code: 'SESSION_NOT_FOUND' })
  const reader = await createKey(app, { sessions: [sessionId], access: 'read' })
  t.equal((await call('GET', '/audiences', undefined, withKey(reader.key))).json().data.length, 1)
  t.equal((await call('POST', '/audiences', { name: 'x', numbers: [] }, withKey(reader.key))).statusCode, 403)
})

t.test('send-status with an audience: checked, stored, echoed, part of the idempotency fingerprint', async t => {
  const { call, queue } = await connected(t)
  const send = (payload: Record<string, unknown>, headers: Record<string, string> = {}) => call('POST', '/send-status', payload, { ...auth, ...headers })

  const contacts = await send({ type: 'text', content: 'to my contacts', audience: { type: 'contacts', except: ['+1 555 000 1111', '15550001111'] }, targetNumbers: '15550002222' })
  t.equal(contacts.statusCode, 202, contacts.body)
  t.match(contacts.json().data, { audience: { type: 'contacts', except: ['15550001111'] }, targetNumbers: ['15550002222'], audienceSize: null, skipped: null })
  const row = await prisma.status.findUniqueOrThrow({ where: { id: contacts.json().data.id } })
  t.same(row.audienceSpec, { type: 'contacts', except: ['15550001111'] }, 'the requested audience is stored for the worker')
  t.equal(await queue.count(), 1, 'sent as any status')
  t.same((await send({ type: 'text', content: 'plain' })).json().data.audience, null, 'no audience: null')

  const list = (await call('POST', '/audiences', { name: 'list', numbers: ['15550003333'] })).json().data
  const byList = await send({ type: 'text', content: 'to a list', audience: { type: 'list', id: list.id } })
  t.equal(byList.statusCode, 202)
  t.same(byList.json().data.audience, { type: 'list', id: list.id })

  const cases: Array<[unknown, number, string | RegExp]> = [
    [{ type: 'list', id: randomUUID() }, 404, 'AUDIENCE_LIST_NOT_FOUND'],
    [{ type: 'list' }, 400, 'body.audience.id'],
    [{ type: 'list', id: list.id, except: ['15550001111'] }, 400, 'body.audience.except'],
    [{ type: 'contacts', id: list.id }, 400, 'body.audience.id'],
    [{ type: 'contacts', except: ['15550001111', 'nope'] }, 400, 'body.audience.except[1]'],
    [{ type: 'everyone' }, 400, /audience/],
    [{ type: 'list', id: 'not-a-uuid' }, 400, /audience/]
  ]
  const before = await queue.count()
  for (const [audience, status, what] of cases) {
    const res = await send({ type: 'text', content: 'refused', audience })
    t.equal(res.statusCode, status, `${JSON.stringify(audience)}: ${res.body}`)
    if (status === 404) t.match(res.json(), { code: what, error: /Audience list .* not found in session/ })
    else t.match(JSON.stringify(res.json()), what)
  }
  t.equal(await queue.count(), before, 'nothing refused was sent')

  const key = { 'idempotency-key': `aud-${randomUUID()}` }
  const first = await send({ type: 'text', content: 'once', audience: { type: 'contacts', except: ['15550001111', '15550004444'] } }, key)
  const again = await send({ type: 'text', content: 'once', audience: { type: 'contacts', except: ['15550004444', '+1 555 000 1111'] } }, key)
  t.equal(again.json().data.id, first.json().data.id, 'the same audience, spelt otherwise, replays')
  const other = await send({ type: 'text', content: 'once', audience: { type: 'contacts' } }, key)
  t.equal(other.statusCode, 422)
  t.match(other.json(), { code: 'IDEMPOTENCY_KEY_REUSED' })
})

t.test('a saved list used by a status not sent yet cannot be deleted; a scheduled status\'s audience can be changed', async t => {
  const { call } = await connected(t)
  const list = (await call('POST', '/audiences', { name: 'later', numbers: ['15550003333'] })).json().data
  const scheduledAt = new Date(Date.now() + 3600_000).toISOString()
  const scheduled = await call('POST', '/send-status', { type: 'text', content: 'soon', audience: { type: 'list', id: list.id }, scheduledAt })
  t.equal(scheduled.statusCode, 202, scheduled.body)
  const statusId = scheduled.json().data.id
  const refused = await call('DELETE', `/audiences/${list.id}`)
  t.equal(refused.statusCode, 409)
  t.match(refused.json(), { code: 'AUDIENCE_LIST_IN_USE', details: { statusIds: [statusId] } })

  const patched = await call('PATCH', `/statuses/${statusId}`, { audience: { type: 'contacts' } })
  t.equal(patched.statusCode, 200, patched.body)
  t.same(patched.json().data.audience, { type: 'contacts' })
  t.equal((await call('DELETE', `/audiences/${list.id}`)).statusCode, 200, 'deleted once no status waits for it')
  t.match((await call('PATCH', `/statuses/${statusId}`, { audience: { type: 'list', id: list.id } })).json(), { code: 'AUDIENCE_LIST_NOT_FOUND' })
  const cleared = await call('PATCH', `/statuses/${statusId}`, { audience: null, content: 'later still' })
  t.match(cleared.json().data, { audience: null, content: 'later still' })
})

/** Runs `body` in a transaction that stays open until the returned `commit` is called. */
async function heldTransaction (body: (tx: Parameters<Parameters<typeof prisma.$transaction>[0]>[0]) => Promise<unknown>) {
  let commit!: () => void
  let ready!: () => void
  const held = new Promise<void>(resolve => { commit = resolve })
  const started = new Promise<void>(resolve => { ready = resolve })
  const done = prisma.$transaction(async tx => { await body(tx); ready(); await held }, { timeout: 60_000, maxWait: 10_000 })
  await started
  return { commit: async () => { commit(); await done } }
}

/** Waits (bounded) until some statement of this database waits for a row lock. */
async function someoneWaits () {
  await eventually(async () => {
    const [row] = await prisma.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`
    return (row?.n ?? 0) > 0
  }, 10_000, 50)
}

t.test('a list being deleted: a send with it waits, then is 404, and no status is stored', async t => {
  const { call } = await connected(t)
  const list = (await call('POST', '/audiences', { name: 'going', numbers: ['15550001111'] })).json().data
  const deleting = await heldTransaction(async tx => {
    await tx.$queryRaw`SELECT id::text FROM audience_lists WHERE id = ${list.id}::uuid FOR UPDATE`
    await tx.audienceList.delete({ where: { id: list.id } })
  })
  const sending = call('POST', '/send-status', { type: 'text', content: 'race', audience: { type: 'list', id: list.id } })
  await someoneWaits()
  await deleting.commit()
  const res = await sending
  t.equal(res.statusCode, 404, res.body)
  t.match(res.json(), { code: 'AUDIENCE_LIST_NOT_FOUND' })
  t.equal(await prisma.status.count({ where: { content: 'race', audienceSpec: { path: ['id'], equals: list.id } } }), 0, 'no status points at a deleted list')
})

t.test('a list a status is being written with: its delete waits, then is 409 AUDIENCE_LIST_IN_USE', async t => {
  const { call, sessionId } = await connected(t)
  const list = (await call('POST', '/audiences', { name: 'in use', numbers: ['15550001111'] })).json().data
  const statusId = randomUUID()
  const sending = await heldTransaction(async tx => {
    await tx.$queryRaw`SELECT id::text FROM audience_lists WHERE id = ${list.id}::uuid FOR SHARE`
    await tx.status.create({ data: { id: statusId, sessionId, type: 'text', content: 'with list', state: 'pending', audienceSpec: { type: 'list', id: list.id } } })
  })
  const deleting = call('DELETE', `/audiences/${list.id}`)
  await someoneWaits()
  await sending.commit()
  const res = await deleting
  t.equal(res.statusCode, 409, res.body)
  t.match(res.json(), { code: 'AUDIENCE_LIST_IN_USE', details: { statusIds: [statusId] } })
  t.ok(await prisma.audienceList.findUnique({ where: { id: list.id } }), 'the list is kept')
})
