// Audiences through the whole stack: a status to a session's contacts (seeded in `contacts` as the
// contacts sync leaves them), to contacts except some, to a saved list by id, and one post from many
// sessions, each reaching exactly its own audience on the simulator's phones.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { socketIoClient } from '../src/events.ts'
import { linkSession, reachedPhones as reached } from '../src/link.ts'
import { startStack } from '../src/stack.ts'

t.test('statuses to contacts, contacts except some, a saved list, and from many sessions at once', async t => {
  const stack = await startStack(t, { workers: 2 })
  const { sim, prisma } = stack
  const shop = '15557800000'
  const cafe = '15557800100'
  const [a1, a2, a3, a4] = ['15557800001', '15557800002', '15557800003', '15557800004']
  const [b1, b2] = ['15557800101', '15557800102']
  const notOnWhatsApp = '15557800999'
  const newcomer = '15557800005'
  for (const p of [shop, cafe, a1, a2, a3, a4, b1, b2]) await sim.client.createAccount(p)
  const shopId = await linkSession(stack, shop, 'aud')
  const cafeId = await linkSession(stack, cafe, 'aud')
  const sio = await socketIoClient(t, stack.apis[0]!.url, stack.apiKey)
  await prisma.contact.createMany({
    data: [
      ...[a1, a2, a3, notOnWhatsApp].map(phone => ({ sessionId: shopId, phone, inAddressBook: true })),
      { sessionId: shopId, phone: a4, inAddressBook: false, pushName: 'only chatted' },
      ...[b1, b2].map(phone => ({ sessionId: cafeId, phone, inAddressBook: true }))
    ]
  })

  await t.test('contacts: exactly the address book on WhatsApp, and the own phone', async t => {
    const res = await stack.api('POST', `/api/sessions/${shopId}/send-status`, { type: 'text', content: 'to my contacts', audience: { type: 'contacts' } })
    t.equal(res.status, 201, JSON.stringify(res.body))
    t.match(res.body.data, { state: 'sent', audience: { type: 'contacts' }, audienceSize: 4, skipped: 1 }, 'own + 3 contacts; the one not on WhatsApp skipped')
    t.same(await reached(stack, shop, 'to my contacts'), [shop, a1, a2, a3].sort())
  })

  await t.test('contacts except some', async t => {
    const res = await stack.api('POST', `/api/sessions/${shopId}/send-status`, { type: 'text', content: 'not to a2', audience: { type: 'contacts', except: [`+${a2}`] } })
    t.equal(res.status, 201, JSON.stringify(res.body))
    t.match(res.body.data, { audience: { type: 'contacts', except: [a2] }, audienceSize: 3, skipped: 1 })
    t.same(await reached(stack, shop, 'not to a2'), [shop, a1, a3].sort())
  })

  await t.test('a saved list by id, with a number beside it', async t => {
    const list = await stack.api('POST', `/api/sessions/${shopId}/audiences`, { name: 'regulars', numbers: [a3, notOnWhatsApp] })
    t.equal(list.status, 201, JSON.stringify(list.body))
    const res = await stack.api('POST', `/api/sessions/${shopId}/send-status`, { type: 'text', content: 'to the regulars', audience: { type: 'list', id: list.body.data.id }, targetNumbers: a4 })
    t.equal(res.status, 201, JSON.stringify(res.body))
    t.match(res.body.data, { audienceSize: 3, skipped: 1 })
    t.same(await reached(stack, shop, 'to the regulars'), [shop, a3, a4].sort())
    const listed = await stack.api('GET', `/api/sessions/${shopId}/statuses/${res.body.data.id}`)
    t.match(listed.body.data, { audience: { type: 'list', id: list.body.data.id }, audienceSize: 3, skipped: 1 }, 'the status keeps what it resolved to')
  })

  await t.test('a scheduled status reaches the contacts the session has when it fires', async t => {
    const scheduledAt = new Date(Date.now() + 8000).toISOString()
    const res = await stack.api('POST', `/api/sessions/${shopId}/send-status`, { type: 'text', content: 'later, to my contacts', audience: { type: 'contacts', except: [a1] }, scheduledAt })
    t.equal(res.status, 202, JSON.stringify(res.body))
    t.match(res.body.data, { state: 'scheduled', audience: { type: 'contacts', except: [a1] }, audienceSize: null })
    // Saved in the address book after the status was scheduled, before it fires.
    await sim.client.createAccount(newcomer)
    await prisma.contact.create({ data: { sessionId: shopId, phone: newcomer, inAddressBook: true } })
    const sent = await sio.waitFor(e => e.event === 'status-sent' && e.data.id === res.body.data.id, 60_000)
    t.match(sent.data, { audienceSize: 4, skipped: 1 }, 'own + a2, a3 and the newcomer; the one not on WhatsApp skipped')
    t.same(await reached(stack, shop, 'later, to my contacts'), [shop, a2, a3, newcomer].sort())
  })

  await t.test('one post from every session: a status id per session, each reaching its own contacts', async t => {
    const res = await stack.api('POST', '/api/statuses', { sessionIds: 'all', type: 'text', content: 'from everyone', audience: { type: 'contacts' } }, { headers: { 'idempotency-key': `all-${randomUUID()}` } })
    t.equal(res.status, 202, JSON.stringify(res.body))
    const statuses = res.body.data.statuses as Array<{ sessionId: string, id: string, state: string }>
    t.same(statuses.map(s => s.sessionId).sort(), [shopId, cafeId].sort())
    for (const s of statuses) {
      const sent = await sio.waitFor(e => e.event === 'status-sent' && e.data.id === s.id, 60_000)
      t.equal(sent.data.sessionId, s.sessionId, 'its own lifecycle and events')
    }
    t.same(await reached(stack, shop, 'from everyone'), [shop, a1, a2, a3, newcomer].sort(), 'the shop\'s contacts')
    t.same(await reached(stack, cafe, 'from everyone'), [cafe, b1, b2].sort(), 'the cafe\'s contacts')
    const cafeStatus = await stack.api('GET', `/api/sessions/${cafeId}/statuses/${statuses.find(s => s.sessionId === cafeId)!.id}`)
    t.match(cafeStatus.body.data, { state: 'sent', audienceSize: 3, skipped: 0 })
  })
})
