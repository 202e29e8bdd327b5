// A phone with an address book links a session through the real stack (API, worker, simulator):
// its contacts appear through the API with the saved names and the push names; a rename and a
// removal on the phone reach the API, each announced by `contacts-updated`.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { socketIoClient } from '../src/events.ts'
import { eventually, startStack } from '../src/stack.ts'

const OWN = '15557770000'
const [ANN, BOB, CAT] = ['15557770001', '15557770002', '15557770003']

interface Contact { number: string, lid: string | null, name: string | null, pushName: string | null, inAddressBook: boolean, updatedAt: string }

t.test('the phone\'s contacts reach the API, and so do its changes', async t => {
  const stack = await startStack(t, { apis: 1, workers: 1 })
  const { sim } = stack
  await sim.client.createAccount(OWN)
  await sim.client.createAccount(ANN, { name: 'Ann on WhatsApp' })
  await sim.client.createAccount(BOB, { name: 'Bob on WhatsApp' })
  await sim.client.addContacts(OWN, [ANN, BOB])
  await sim.client.saveContact(OWN, ANN, 'Ann Smith')
  await sim.client.saveContact(OWN, CAT, 'Cat Jones')
  const events = await socketIoClient(t, stack.apis[0]!.url, stack.apiKey)

  const sessionId = `contacts-${randomUUID().slice(0, 8)}`
  const created = await stack.api('POST', '/api/sessions', { sessionId, sessionName: 'Contacts', phoneNumber: OWN })
  t.equal(created.status, 201, JSON.stringify(created.body))
  let code: string | undefined
  t.ok(await eventually(async () => {
    code = (await stack.api('GET', `/api/sessions/${sessionId}/pairing-code`)).body?.data?.pairingCode
    return !!code
  }, 20_000), 'a pairing code')
  t.ok((await sim.client.enterPairingCode(OWN, code!)).linked, 'linked from the phone')

  const contacts = async (query = ''): Promise<Contact[]> => {
    const res = await stack.api('GET', `/api/sessions/${sessionId}/contacts${query}`)
    if (res.status !== 200) throw new Error(`${res.status} ${JSON.stringify(res.body)}`)
    return res.body.data
  }
  const byNumber = async () => new Map((await contacts()).map(c => [c.number, c]))

  t.ok(await eventually(async () => {
    const list = await byNumber()
    return list.get(ANN)?.name === 'Ann Smith' && list.get(ANN)?.pushName === 'Ann on WhatsApp' &&
      list.get(CAT)?.name === 'Cat Jones' && list.get(BOB)?.pushName === 'Bob on WhatsApp'
  }, 30_000, 250), 'address book and push names listed')
  const list = await byNumber()
  t.equal(list.get(ANN)?.inAddressBook, true)
  t.equal(list.get(ANN)?.lid, (await sim.client.account(ANN)).lid, 'the LID the address book carried')
  t.equal(list.get(BOB)?.inAddressBook, false, 'a push name alone is not an address-book entry')
  t.equal(list.get(BOB)?.name, null)
  const first = await events.waitFor(e => e.event === 'contacts-updated' && e.data.sessionId === sessionId && e.data.added >= 1)
  t.ok(first.data.total >= 1, 'contacts-updated carries the address-book total')

  t.same((await contacts('?q=smith')).map(c => c.number), [ANN], 'search by name')
  t.same((await contacts('?inAddressBook=true')).map(c => c.number).sort(), [ANN, CAT])

  const before = events.seen.length
  await sim.client.saveContact(OWN, ANN, 'Ann Jones')
  t.ok(await eventually(async () => (await byNumber()).get(ANN)?.name === 'Ann Jones', 20_000, 250), 'a rename on the phone reaches the API')
  await events.waitFor(e => e.event === 'contacts-updated' && e.data.sessionId === sessionId && e.data.updated >= 1 && events.seen.indexOf(e) >= before)

  const since = new Date().toISOString()
  await sim.client.removeContact(OWN, CAT)
  t.ok(await eventually(async () => (await byNumber()).get(CAT)?.inAddressBook === false, 20_000, 250), 'a removal on the phone reaches the API')
  const removed = await events.waitFor(e => e.event === 'contacts-updated' && e.data.sessionId === sessionId && e.data.removed === 1)
  t.equal(removed.data.total, 1, 'one contact left in the address book')
  const changed = await contacts(`?updatedSince=${encodeURIComponent(since)}`)
  t.same(changed.map(c => [c.number, c.name, c.inAddressBook]), [[CAT, null, false]], 'updatedSince lists only the removal')
})
