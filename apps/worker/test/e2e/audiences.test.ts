// A status's audience resolved by the worker when it sends: the session's address-book contacts
// (seeded in `contacts` as the contacts sync leaves them), `except`, saved lists, extra numbers,
// numbers not on WhatsApp dropped and counted, the cap. Through a real worker, Baileys and the
// simulator's phones.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { exitWhenDone } from '@wss/wa-sim/testing'
import { createLogger } from '../../src/logger.ts'
import { guardConsole } from '../../src/console-guard.ts'
import { startWorkerStack } from '../helpers.ts'

exitWhenDone(t)
guardConsole(createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'))

t.test('audiences resolved at send time', async t => {
  // Chunks of 2, so a three-recipient status goes in two stanzas with progress events.
  const { sim, prisma, events, bus } = await startWorkerStack(t, { STATUS_CHUNK_SIZE: '2', MAX_AUDIENCE: '3' })
  const phone = '15557790000'
  const [c1, c2, c3, c4, c5] = ['15557790001', '15557790002', '15557790003', '15557790004', '15557790005']
  for (const p of [phone, c1, c2, c4]) await sim.client.createAccount(p)
  const sessionId = `aud-${randomUUID().slice(0, 8)}`
  await prisma.session.create({ data: { id: sessionId, name: 'Shop', authMethod: 'pairing', phoneNumber: phone, state: 'connecting' } })
  const started = await bus.send('start-session', { sessionId, reason: 'created' })
  await sim.client.enterPairingCode(phone, started.data.pairingCode)
  await events.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected)
  // c3 is saved in the address book but not on WhatsApp; c4 is on WhatsApp but not saved.
  await prisma.contact.createMany({
    data: [
      { sessionId, phone: c1, inAddressBook: true, name: 'One' },
      { sessionId, phone: c2, inAddressBook: true, name: 'Two' },
      { sessionId, phone: c3, inAddressBook: true, name: 'Three' },
      { sessionId, phone: c4, inAddressBook: false, pushName: 'Four' }
    ]
  })

  async function send (fields: { audienceSpec?: { type: string, except?: string[], id?: string }, targetNumbers?: string[] }) {
    const id = randomUUID()
    await prisma.status.create({ data: { id, sessionId, type: 'text', content: `to ${JSON.stringify(fields)}`, targetNumbers: fields.targetNumbers ?? [], state: 'pending', ...(fields.audienceSpec === undefined ? {} : { audienceSpec: fields.audienceSpec }) } })
    const since = events.mark()
    const reply = await bus.send('send-status', { sessionId, statusId: id }, 60_000)
    const row = await prisma.status.findUniqueOrThrow({ where: { id } })
    const phones = async () => {
      const record = await sim.client.status(phone, row.messageId!, 10_000)
      return [...new Set(record.recipients.filter(r => r.decrypted).map(r => r.phone))].sort()
    }
    return { id, reply, row, since, phones }
  }

  await t.test('contacts: every address-book contact on WhatsApp and the own number; the rest counted as skipped', async t => {
    const { id, reply, row, since, phones } = await send({ audienceSpec: { type: 'contacts' } })
    t.equal(reply.ok, true, JSON.stringify(reply))
    t.same(await phones(), [phone, c1, c2].sort(), 'exactly the saved contacts on WhatsApp, and the own phone')
    t.match(row, { state: 'sent', audienceSize: 3, skipped: 1 }, 'c3 is not on WhatsApp')
    t.match(reply.data, { audience: { type: 'contacts' }, audienceSize: 3, skipped: 1 }, 'the reply carries them')
    const sent = await events.waitFor(e => e.event === 'status-sent' && e.data.id === id, 10_000, since)
    t.match(sent.data, { audienceSize: 3, skipped: 1 })
    const progress = events.seen.slice(since).filter(e => e.event === 'status-progress' && e.data.id === id).map(e => [e.data.sent, e.data.total])
    t.same(progress, [[2, 3], [3, 3]], 'chunked, with progress over the resolved audience')
  })

  await t.test('contacts except some, plus numbers given beside them', async t => {
    const { reply, row, phones } = await send({ audienceSpec: { type: 'contacts', except: [c2] }, targetNumbers: [c4, c1] })
    t.equal(reply.ok, true, JSON.stringify(reply))
    t.same(await phones(), [phone, c1, c4].sort(), 'c2 left out, c4 added, c1 once')
    t.match(row, { audienceSize: 3, skipped: 1 })
  })

  await t.test('a saved list by id, read when the status is sent', async t => {
    const listId = randomUUID()
    await prisma.audienceList.create({ data: { id: listId, sessionId, name: 'later', numbers: [c1] } })
    const id = randomUUID()
    await prisma.status.create({ data: { id, sessionId, type: 'text', content: 'list', state: 'pending', audienceSpec: { type: 'list', id: listId } } })
    // Changed after the status was stored, before it is sent: the send reaches what the list holds then.
    await prisma.audienceList.update({ where: { id: listId }, data: { numbers: [c2, c5, phone] } })
    const reply = await bus.send('send-status', { sessionId, statusId: id }, 60_000)
    t.equal(reply.ok, true, JSON.stringify(reply))
    const row = await prisma.status.findUniqueOrThrow({ where: { id } })
    const record = await sim.client.status(phone, row.messageId!, 10_000)
    t.same([...new Set(record.recipients.filter(r => r.decrypted).map(r => r.phone))].sort(), [phone, c2].sort())
    t.match(row, { audienceSize: 2, skipped: 1 }, 'c5 is not on WhatsApp; the own number counts once')
  })

  await t.test('a list deleted before the send, or an audience over MAX_AUDIENCE, fails the status saying why', async t => {
    const gone = await send({ audienceSpec: { type: 'list', id: randomUUID() } })
    t.match(gone.reply, { ok: false, code: 'AUDIENCE_LIST_NOT_FOUND', message: /was deleted before the status was sent/ })
    t.match(gone.row, { state: 'failed', error: /audience list .* was deleted/, messageId: null })
    await events.waitFor(e => e.event === 'status-failed' && e.data.id === gone.id, 10_000, gone.since)

    const big = await send({ audienceSpec: { type: 'contacts' }, targetNumbers: [c4] })
    t.match(big.reply, { ok: false, code: 'AUDIENCE_TOO_LARGE', message: /resolved to 4 recipients besides the own number; at most 3 \(MAX_AUDIENCE\)/ })
    t.match(big.row, { state: 'failed', messageId: null }, 'nothing was sent, nothing truncated')

    // Asked again (a retried request), each answers its own code, not WHATSAPP_REFUSED.
    t.match(await bus.send('send-status', { sessionId, statusId: gone.id }, 60_000), { ok: false, code: 'AUDIENCE_LIST_NOT_FOUND' })
    t.match(await bus.send('send-status', { sessionId, statusId: big.id }, 60_000), { ok: false, code: 'AUDIENCE_TOO_LARGE' })
  })

  await t.test('a lookup WhatsApp leaves unanswered fails the send saying so: the number is not counted as skipped', async t => {
    await sim.client.leaveLookupsUnanswered([c2])
    t.teardown(() => sim.client.leaveLookupsUnanswered([]))
    const { id, reply, row, since } = await send({ audienceSpec: { type: 'contacts' } })
    t.match(reply, { ok: false, code: 'WHATSAPP_REFUSED', message: /did not say whether 1 of the audience's 3 numbers are on WhatsApp/ })
    t.match(row, { state: 'failed', error: /did not say whether/, messageId: null, skipped: null }, 'nothing sent, nothing reported as skipped')
    await events.waitFor(e => e.event === 'status-failed' && e.data.id === id, 10_000, since)
    t.notOk(events.seen.slice(since).some(e => e.event === 'status-sent' && e.data.id === id), 'never reported sent')
  })

  await t.test('targetNumbers alone are sent as before: no lookup, nothing skipped', async t => {
    const { reply, row } = await send({ targetNumbers: [c1, c3] })
    t.equal(reply.ok, true, JSON.stringify(reply))
    t.match(row, { audienceSize: 3, skipped: null, audienceSpec: null })
    t.same([...row.audience].sort(), [phone, c1, c3].map(n => `${n}@s.whatsapp.net`).sort())
  })
})
