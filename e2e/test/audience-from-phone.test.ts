// The audience `contacts` end to end with the contacts as WhatsApp gives them: the phone's address
// book reaches the session through app-state sync (no row seeded by hand), a status to `contacts`
// and to `contacts` except one reaches exactly those phones and the own one, and a contact removed
// on the phone is no longer in the next status's audience.
import t from 'tap'
import { linkSession, reachedPhones } from '../src/link.ts'
import { eventually, startStack, type Stack } from '../src/stack.ts'

const OWN = '15557790000'
const [ANN, BOB, CAT, DAN] = ['15557790001', '15557790002', '15557790003', '15557790004']
const reached = async (stack: Stack, text: string) => await reachedPhones(stack, OWN, text)

t.test('a status to the phone\'s contacts reaches exactly its address book, as the phone changes it', async t => {
  const stack = await startStack(t, { apis: 1, workers: 1 })
  const { sim } = stack
  for (const p of [OWN, ANN, BOB, CAT, DAN]) await sim.client.createAccount(p)
  // DAN is on WhatsApp but not in the address book: never in a `contacts` audience.
  await sim.client.saveContacts(OWN, [{ phone: ANN, name: 'Ann' }, { phone: BOB, name: 'Bob' }, { phone: CAT, name: 'Cat' }])

  const sessionId = await linkSession(stack, OWN, 'phone-aud')
  const book = async () => ((await stack.api('GET', `/api/sessions/${sessionId}/contacts?inAddressBook=true`)).body?.data ?? [])
    .map((c: { number: string }) => c.number).sort()
  t.ok(await eventually(async () => (await book()).length === 3, 30_000, 250), 'the address book arrived from the phone')

  const send = async (content: string, audience: object) => {
    const res = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content, audience })
    t.equal(res.status, 201, JSON.stringify(res.body))
    return res.body.data
  }
  t.match(await send('to all my contacts', { type: 'contacts' }), { state: 'sent', audienceSize: 4, skipped: 0 })
  t.same(await reached(stack, 'to all my contacts'), [OWN, ANN, BOB, CAT].sort(), 'the address book and the own phone, not DAN')

  t.match(await send('not to Bob', { type: 'contacts', except: [`+${BOB}`] }), { state: 'sent', audienceSize: 3 })
  t.same(await reached(stack, 'not to Bob'), [OWN, ANN, CAT].sort(), 'except leaves Bob out')

  await sim.client.removeContact(OWN, CAT)
  t.ok(await eventually(async () => !(await book()).includes(CAT), 20_000, 250), 'the removal on the phone reached the session')
  t.match(await send('after Cat left', { type: 'contacts' }), { state: 'sent', audienceSize: 3 })
  t.same(await reached(stack, 'after Cat left'), [OWN, ANN, BOB].sort(), 'a contact removed on the phone is no longer reached')
})
