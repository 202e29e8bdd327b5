// GET /api/sessions/:id/contacts against rows the worker would write: the item shape, search,
// filters, keyset pages in change order, bad input, unknown sessions and scoped keys.
import t from 'tap'
import { auth, build, sessionName, testDatabase } from '../../helper.ts'
import { createKey, withKey } from '../../key-helper.ts'

const db = await testDatabase(t)
const { prisma } = db
const app = await build(t, { db })
const get = async (url: string, headers: Record<string, string> = auth) => await app.inject({ method: 'GET', url, headers })

const sessionId = sessionName()
const other = sessionName()
for (const id of [sessionId, other]) {
  await prisma.session.create({ data: { id, name: 'S', authMethod: 'pairing', phoneNumber: '4915100000000', state: 'connected' } })
}
const at = (minute: number) => new Date(Date.UTC(2026, 2, 1, 10, minute))
await prisma.contact.createMany({
  data: [
    { sessionId, phone: '4915111111111', lid: '111111111111111', name: 'Anna Schmidt', pushName: 'Anni', inAddressBook: true, updatedAt: at(1) },
    { sessionId, phone: '4915122222222', lid: null, name: null, pushName: 'Bernd', inAddressBook: false, updatedAt: at(2) },
    { sessionId, phone: '4915133333333', lid: '333333333333333', name: 'Carla Weiss', pushName: null, inAddressBook: true, updatedAt: at(3) },
    { sessionId, phone: '4915144444444', lid: null, name: 'Dieter', pushName: 'SCHMIDTI', inAddressBook: true, updatedAt: at(3) },
    { sessionId: other, phone: '4915155555555', name: 'Elsewhere', inAddressBook: true, updatedAt: at(1) }
  ]
})
const url = `/api/sessions/${sessionId}/contacts`
const numbers = (res: { json: () => { data: Array<{ number: string }> } }) => res.json().data.map(c => c.number)

t.test('every contact of the session, in change order, with its fields', async t => {
  const res = await get(url)
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.notOk('nextCursor' in body, 'the whole list without limit or cursor')
  t.same(body.data.map((c: { number: string }) => c.number), ['4915111111111', '4915122222222', '4915133333333', '4915144444444'])
  t.same(body.data[0], { number: '4915111111111', lid: '111111111111111', name: 'Anna Schmidt', pushName: 'Anni', inAddressBook: true, updatedAt: at(1).toISOString() })
  t.same(body.data[1], { number: '4915122222222', lid: null, name: null, pushName: 'Bernd', inAddressBook: false, updatedAt: at(2).toISOString() })
})

t.test('q searches name, push name and number, case-insensitively', async t => {
  t.same(numbers(await get(`${url}?q=schmidt`)), ['4915111111111', '4915144444444'], 'a name and a push name')
  t.same(numbers(await get(`${url}?q=${encodeURIComponent('+49 151 3333')}`)), ['4915133333333'], 'digits of a number')
  t.same(numbers(await get(`${url}?q=nobody`)), [])
})

t.test('updatedSince and inAddressBook filter', async t => {
  t.same(numbers(await get(`${url}?updatedSince=${at(2).toISOString()}`)), ['4915122222222', '4915133333333', '4915144444444'])
  t.same(numbers(await get(`${url}?inAddressBook=false`)), ['4915122222222'])
  t.same(numbers(await get(`${url}?inAddressBook=true&updatedSince=2026-03-01T10:03:00Z`)), ['4915133333333', '4915144444444'])
  const bad = await get(`${url}?updatedSince=yesterday`)
  t.equal(bad.statusCode, 400)
  t.match(JSON.stringify(bad.json()), /updatedSince/, 'the error names the field')
})

t.test('keyset pages follow (updatedAt, number), ties included', async t => {
  const seen: string[] = []
  let cursor: string | null | undefined
  do {
    const res = await get(`${url}?limit=1${cursor ? `&cursor=${cursor}` : ''}`)
    t.equal(res.statusCode, 200)
    seen.push(...numbers(res))
    cursor = res.json().nextCursor
  } while (cursor)
  t.same(seen, ['4915111111111', '4915122222222', '4915133333333', '4915144444444'])
  t.equal((await get(`${url}?cursor=nonsense`)).statusCode, 400)
})

t.test('unknown sessions and scoped keys', async t => {
  t.equal((await get('/api/sessions/no-such-session/contacts')).statusCode, 404)
  const empty = sessionName()
  await prisma.session.create({ data: { id: empty, name: 'E', authMethod: 'pairing', phoneNumber: '4915100000001', state: 'connected' } })
  t.same((await get(`/api/sessions/${empty}/contacts`)).json().data, [], 'a known session without contacts')
  const foreign = await createKey(app, { sessions: [other], access: 'read' })
  const mine = await createKey(app, { sessions: [sessionId], access: 'read' })
  t.equal((await get(url, withKey(foreign.key))).statusCode, 404, 'another session\'s key does not see them')
  t.equal((await get(url, withKey(mine.key))).statusCode, 200)
})
