// A linked device gets its phone's contacts as WhatsApp gives them: the app-state sync key
// (Signal-encrypted from the phone), the address book as `critical_unblock_low` patches that
// Baileys verifies (MACs, LTHash), push names in a history-sync blob from the media host, and a
// `server_sync` notification whenever the address book changes on the phone (none after a link:
// the device starts its first read).
import t from 'tap'
import { proto, type Contact } from '@whiskeysockets/baileys'
import { startSimulator } from '../src/index.ts'
import { connectClient, exitWhenDone, linkClient, mediaDispatcher, type TestClient } from '../src/testing.ts'

exitWhenDone(t)

const OWN = '15552220000'
const [ANN, BOB, CAT] = ['15552220001', '15552220002', '15552220003']

/** Collects what a client learns about contacts, keyed by number. */
function contactsOf (client: TestClient) {
  const book = new Map<string, Partial<Contact>>()
  const pushNames = new Map<string, string>()
  const keep = (c: Partial<Contact>) => {
    const number = (c.phoneNumber ?? c.id ?? '').split('@')[0]!
    book.set(number, { ...book.get(number), ...c })
  }
  client.sock.ev.on('contacts.upsert', list => list.forEach(keep))
  client.sock.ev.on('messaging-history.set', ({ contacts }) => {
    for (const c of contacts) {
      if (c.notify) pushNames.set(c.id.split('@')[0]!, c.notify)
      // Baileys' event buffer may absorb an address-book upsert into a history set of the same id.
      if (c.phoneNumber) keep(c)
    }
  })
  return { book, pushNames }
}

async function until (what: string, check: () => boolean, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

t.test('the address book and push names reach a linked client; renames and removals follow', async t => {
  const sim = await startSimulator()
  t.teardown(() => sim.close())
  await sim.client.createAccount(OWN)
  await sim.client.createAccount(ANN, { name: 'Ann Push' })
  await sim.client.createAccount(BOB, { name: 'Bob Push' })
  await sim.client.addContacts(OWN, [ANN, BOB])
  await sim.client.saveContact(OWN, ANN, 'Ann Smith')
  await sim.client.saveContact(OWN, CAT, 'Cat (no WhatsApp)')
  t.same((await sim.client.addressBook(OWN)).entries.map(e => [e.phone, e.name]), [[ANN, 'Ann Smith'], [CAT, 'Cat (no WhatsApp)']])

  // History sync on for push names only, as the product configures it.
  const client = await linkClient(sim.settings, sim.client, OWN, 'qr', {
    shouldSyncHistoryMessage: (n: proto.Message.IHistorySyncNotification) => n.syncType === proto.HistorySync.HistorySyncType.PUSH_NAME,
    options: { dispatcher: mediaDispatcher(sim.settings.WA_MEDIA_CA, sim.mediaHost) }
  })
  t.teardown(() => client.end())
  const seen = contactsOf(client)

  await until('the app-state key', () => !!client.auth.creds.myAppStateKeyId)
  await until('the push names', () => seen.pushNames.get(ANN) === 'Ann Push' && seen.pushNames.get(BOB) === 'Bob Push')
  t.pass('push names from the history-sync blob')
  t.equal((await sim.client.addressBook(OWN)).mutationsServed, 0, 'no server_sync after the link: nothing read the address book yet')
  t.equal(seen.book.size, 0)
  // The device's first read, from scratch: a snapshot.
  await client.sock.resyncAppState(['critical_unblock_low'], true)
  await until('the address book', () => seen.book.get(ANN)?.name === 'Ann Smith' && seen.book.get(CAT)?.name === 'Cat (no WhatsApp)')
  t.equal(seen.book.get(ANN)?.lid, `${(await sim.client.account(ANN)).lid}@lid`, 'with the contact\'s LID')
  const version = client.auth.keys['app-state-sync-version']?.critical_unblock_low as { version: number } | undefined
  t.equal(version?.version, 2, 'the client verified and stored the collection at version 2')

  await sim.client.saveContact(OWN, ANN, 'Ann Jones')
  await until('the rename', () => seen.book.get(ANN)?.name === 'Ann Jones')
  t.pass('a rename on the phone reaches the client')
  await sim.client.removeContact(OWN, CAT)
  await until('the removal', () => seen.book.has(CAT) && seen.book.get(CAT)!.name === undefined)
  t.pass('a removal reaches the client as a contact without a name')
  t.same((await sim.client.addressBook(OWN)).entries.map(e => e.phone), [ANN])

  // Offline changes wait for the device; a restarted client resumes from its stored version.
  client.end()
  const deviceId = (await sim.client.account(OWN)).devices[0]!.id
  let closed = false
  while (!closed) closed = (await sim.client.deviceConnections(OWN, deviceId)).open === 0
  await sim.client.saveContact(OWN, BOB, 'Bob Brown')
  const again = connectClient(sim.settings, client.auth, { shouldSyncHistoryMessage: () => false })
  t.teardown(() => again.end())
  const later = contactsOf(again)
  await again.waitFor(u => u.connection === 'open')
  await until('the change made while offline', () => later.book.get(BOB)?.name === 'Bob Brown')
  t.notOk(later.book.has(ANN), 'only the patch after its stored version')
})

t.test('address-book routes check their input', async t => {
  const sim = await startSimulator()
  t.teardown(() => sim.close())
  await sim.client.createAccount(OWN)
  const statusOf = (p: Promise<unknown>) => p.then(() => 200, (err: { status?: number }) => err.status)
  t.equal(await statusOf(sim.client.saveContact(OWN, 'abc', 'X')), 400, 'a number that is not digits')
  t.equal(await statusOf(sim.client.saveContact(OWN, ANN, '')), 400, 'no name')
  t.equal(await statusOf(sim.client.removeContact(OWN, ANN)), 404, 'removing a contact that is not saved')
  t.equal(await statusOf(sim.client.saveContact('15550000009', ANN, 'X')), 404, 'an unknown account')
})
