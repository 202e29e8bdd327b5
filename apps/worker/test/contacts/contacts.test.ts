// A session's contacts through a real worker, Baileys and the simulator: a 5,000-entry address
// book written in a few batches, push names, renames and removals, a restarted worker that resumes
// from its stored app-state version, and a stale owner's write refused. The simulator sends no
// server_sync after a link (WhatsApp sends one only on a change): the worker reads the book itself,
// and a status sent while that read waits on the server is not held behind it.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { exitWhenDone } from '@wss/wa-sim/testing'
import { writeContacts } from '../../src/contacts/contact-writes.ts'
import { eventually, linkByPairingCode, migratedPrisma, startWorkerStack } from '../helpers.ts'

exitWhenDone(t)

const OWN = '15558880000'
const BOOK = Number(process.env.CONTACTS_BOOK ?? 5000)
const numberOf = (i: number) => `1555900${String(i).padStart(4, '0')}`

t.test('the address book, push names and changes of a linked phone land in contacts', async t => {
  const { sim, prisma, events, bus, ...stack } = await startWorkerStack(t)
  const [ann, bob] = ['15558880001', '15558880002']
  await sim.client.createAccount(OWN)
  await sim.client.createAccount(ann, { name: 'Ann Push' })
  await sim.client.createAccount(bob, { name: 'Bob Push' })
  await sim.client.addContacts(OWN, [ann, bob])
  await sim.client.saveContacts(OWN, [{ phone: ann, name: 'Ann Saved' }, ...Array.from({ length: BOOK - 1 }, (_, i) => ({ phone: numberOf(i), name: `Person ${i}` }))])

  const sessionId = `c-${randomUUID().slice(0, 8)}`
  await prisma.session.create({ data: { id: sessionId, name: 'Contacts', authMethod: 'pairing', phoneNumber: OWN, state: 'connecting' } })
  const started = await bus.send('start-session', { sessionId, reason: 'created' })
  t.equal((await sim.client.enterPairingCode(OWN, started.data.pairingCode)).linked, true)

  const inBook = () => prisma.contact.count({ where: { sessionId, inAddressBook: true } })
  t.ok(await eventually(async () => (await inBook()) === BOOK, 90_000, 250), `${BOOK} address-book entries`)
  const batches = events.seen.filter(e => e.event === 'contacts-updated' && e.data.sessionId === sessionId)
  t.ok(batches.length <= 10, `written in a few batches (${batches.length}), not one per contact`)
  t.equal(batches.reduce((n, e) => n + e.data.added, 0), BOOK, 'each entry counted once as added')
  t.equal(batches.at(-1)!.data.total, BOOK)
  t.ok(await eventually(async () => (await prisma.contact.findUnique({ where: { sessionId_phone: { sessionId, phone: bob } } }))?.pushName === 'Bob Push', 20_000), 'push names from history sync')
  const annRow = await prisma.contact.findUniqueOrThrow({ where: { sessionId_phone: { sessionId, phone: ann } } })
  t.same([annRow.name, annRow.pushName, annRow.lid, annRow.inAddressBook], ['Ann Saved', 'Ann Push', (await sim.client.account(ann)).lid, true])
  const stored = await prisma.authKey.findMany({ where: { sessionId, type: 'app-state-sync-version' } })
  t.equal(stored.length, 1, 'the collection\'s version is in the auth key store')

  await sim.client.removeContact(OWN, numberOf(7))
  const removed = await events.waitFor(e => e.event === 'contacts-updated' && e.data.sessionId === sessionId && e.data.removed === 1)
  t.equal(removed.data.total, BOOK - 1)
  const gone = await prisma.contact.findUniqueOrThrow({ where: { sessionId_phone: { sessionId, phone: numberOf(7) } } })
  t.same([gone.inAddressBook, gone.name], [false, null], 'a removed contact stays, out of the address book')

  // A restarted worker resumes from the stored version: only the new patch is served.
  const mark = events.mark()
  await stack.restart(`w2-${randomUUID().slice(0, 6)}`)
  await events.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected, 30_000, mark)
  const served = (await sim.client.addressBook(OWN)).mutationsServed
  await sim.client.saveContact(OWN, numberOf(8), 'Renamed Person')
  t.ok(await eventually(async () => (await prisma.contact.findUnique({ where: { sessionId_phone: { sessionId, phone: numberOf(8) } } }))?.name === 'Renamed Person', 30_000, 250), 'a rename after the restart')
  t.equal((await sim.client.addressBook(OWN)).mutationsServed - served, 1, 'one mutation read after the restart, not the whole book')
})

t.test('a status sent right after the link is not held behind the address-book read, which lands once WhatsApp answers', async t => {
  const stack = await startWorkerStack(t)
  const { sim, prisma, bus } = stack
  const [own, ann] = ['15558870000', '15558870001']
  await sim.client.createAccount(own)
  await sim.client.createAccount(ann)
  await sim.client.saveContacts(own, [{ phone: ann, name: 'Ann Saved' }, { phone: '15558870002', name: 'Bob Saved' }])
  // The phone's answer to the address-book read waits (a slow download of a large book).
  await sim.client.holdAppStateSyncs(own)
  const { sessionId, linked } = await linkByPairingCode(stack, own)
  t.equal(linked, true)
  t.ok(await eventually(async () => (await sim.client.holdAppStateSyncs(own)).held === 1, 20_000, 100), 'the worker asked for the address book by itself (no server_sync came)')

  const statusId = randomUUID()
  await prisma.status.create({ data: { id: statusId, sessionId, type: 'text', content: 'while the book loads', targetNumbers: [ann], state: 'pending' } })
  const sent = await bus.send('send-status', { sessionId, statusId })
  t.match(sent, { ok: true, data: { state: 'sent' } }, 'the status is posted while the read still waits')
  t.equal((await sim.client.statuses(own)).filter(s => s.text === 'while the book loads').length, 1)
  t.equal(await prisma.contact.count({ where: { sessionId, inAddressBook: true } }), 0, 'no address book yet')

  // The connection drops while the read waits: the next connection reads again.
  const mark = stack.events.mark()
  await sim.client.dropAll(own)
  await stack.events.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected, 30_000, mark)
  t.ok(await eventually(async () => (await sim.client.holdAppStateSyncs(own)).held === 2, 20_000, 100), 'the reconnected socket asked again')
  t.equal((await sim.client.addressBook(own)).mutationsServed, 0)
  t.equal((await sim.client.holdAppStateSyncs(own, false)).held, 2, 'two reads were waiting')
  t.ok(await eventually(async () => (await prisma.contact.count({ where: { sessionId, inAddressBook: true } })) === 2, 20_000, 100), 'the address book lands once answered')
  const annRow = await prisma.contact.findUniqueOrThrow({ where: { sessionId_phone: { sessionId, phone: ann } } })
  t.equal(annRow.name, 'Ann Saved')
  t.equal((await sim.client.addressBook(own)).mutationsServed, 2, 'one snapshot of the 2 entries served: the dropped connection\'s read was not answered')
  t.equal((await prisma.session.findUniqueOrThrow({ where: { id: sessionId } })).state, 'connected')
  const creds = async () => (await prisma.authCreds.findUniqueOrThrow({ where: { sessionId } })).creds as { accountSyncCounter?: number }
  t.ok(await eventually(async () => (await creds()).accountSyncCounter === 1, 10_000, 100), 'the read is marked done in the stored creds: a reconnect does not read again')
})

t.test('an address-book read that WhatsApp answers with an error is tried again while the connection stays up', async t => {
  const stack = await startWorkerStack(t)
  const { sim, prisma } = stack
  const [own, ann] = ['15558860000', '15558860001']
  await sim.client.createAccount(own)
  await sim.client.saveContacts(own, [{ phone: ann, name: 'Ann Later' }])
  await sim.client.failAppStateSyncs(own, 1)
  const { sessionId, linked } = await linkByPairingCode(stack, own)
  t.equal(linked, true)
  // The first read fails; the retry comes 30 s later on the same socket.
  t.ok(await eventually(async () => (await prisma.contact.count({ where: { sessionId, inAddressBook: true } })) === 1, 60_000, 250), 'the address book lands after the retry')
  const deviceId = (await sim.client.account(own)).devices[0]!.id
  const logins = (await sim.client.deviceConnections(own, deviceId)).entries.filter(e => e.event === 'login').length
  t.equal(logins, 1, 'on the first connection: no reconnect was needed')
  t.equal((await sim.client.addressBook(own)).mutationsServed, 1, 'one snapshot served, by the retry')
})

t.test('a stale owner cannot write contacts', async t => {
  const { prisma } = await migratedPrisma(t)
  const sessionId = `c-${randomUUID().slice(0, 8)}`
  await prisma.session.create({ data: { id: sessionId, name: 'S', authMethod: 'pairing', phoneNumber: OWN, state: 'connected', generation: 3n } })
  await t.rejects(writeContacts(prisma, sessionId, 2n, [{ phone: '15550000001', saved: 'X' }]), { code: 'STALE_GENERATION' })
  t.equal(await prisma.contact.count({ where: { sessionId } }), 0)
  const counts = await writeContacts(prisma, sessionId, 3n, [{ phone: '15550000001', saved: 'X' }, { phone: '15550000002', pushName: 'P' }, { phone: '15550000003', lid: '123' }])
  t.same(counts, { added: 1, updated: 1, removed: 0, total: 1 }, 'a LID alone adds no contact')
  t.same(await writeContacts(prisma, sessionId, 3n, [{ phone: '15550000001', saved: 'X' }]), { added: 0, updated: 0, removed: 0, total: 1 }, 'an unchanged entry is no change')
})
