import t from 'tap'
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import type { BinaryNode, MessageUserReceiptUpdate } from '@whiskeysockets/baileys'
import { startSimulator } from '../src/index.ts'
import { exitWhenDone, linkClient, type TestClient } from '../src/testing.ts'

exitWhenDone(t)

const SENDER = '15551110000'
const ALICE = '15551110001'
const BOB = '15551110002'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const png = readFileSync(new URL('./fixtures/red.png', import.meta.url))
// A minimal ISO-BMFF header is all a status video needs here: nothing transcodes it.
const mp4 = Buffer.concat([Buffer.from('000000186674797069736f6d0000020069736f6d69736f32', 'hex'), Buffer.alloc(2048, 7)])

/** Waits for the server's ack of one message id on the client's socket. */
function serverAck (client: TestClient, id: string): Promise<BinaryNode> {
  return new Promise(resolve => {
    const on = (node: BinaryNode) => { if (node.attrs.id === id) { client.sock.ws.off('CB:ack,class:message', on); resolve(node) } }
    client.sock.ws.on('CB:ack,class:message', on)
  })
}

/**
 * Waits until Baileys' event buffer is off. A client with the default history settings buffers its
 * events after login until its initial history and app-state sync settle (or 20 s pass): events
 * emitted meanwhile arrive later, consolidated, and receipts may be folded differently.
 */
async function unbuffered (client: TestClient) {
  for (let i = 0; i < 600 && client.sock.ev.isBuffering(); i++) await new Promise(resolve => setTimeout(resolve, 50))
  if (client.sock.ev.isBuffering()) throw new Error('the client still buffers its events after 30 s')
}

/** A simulator with SENDER linked by QR and ALICE and BOB as contacts; the audience of all three. */
async function senderWithContacts (t: { teardown (fn: () => unknown): void }, opts: Parameters<typeof startSimulator>[0] = {}) {
  const s = await startSimulator(opts)
  t.teardown(() => s.close())
  for (const p of [SENDER, ALICE, BOB]) await s.client.createAccount(p)
  await s.client.addContacts(SENDER, [ALICE, BOB])
  const client = await linkClient(s.settings, s.client, SENDER, 'qr')
  t.teardown(() => client.end())
  const audience = [`${SENDER}@s.whatsapp.net`, `${ALICE}@s.whatsapp.net`, `${BOB}@s.whatsapp.net`]
  return { s, client, audience }
}

t.test('statuses end to end through a real Baileys client', async t => {
  const { s, client, audience } = await senderWithContacts(t)

  const send = async (content: any, options: any = {}) => {
    const id = `3EB0${Math.random().toString(16).slice(2, 14).toUpperCase()}`
    const acked = serverAck(client, id)
    await client.sock.sendMessage('status@broadcast', content, { statusJidList: audience, broadcast: true, messageId: id, ...options })
    const ack = await acked
    return { id, ack, record: await s.client.status(SENDER, id, 10_000) }
  }

  t.test('text with colour and font', async t => {
    const { ack, record } = await send({ text: 'hello statuses' }, { backgroundColor: '#12ab34', font: 3 })
    t.notOk(ack.attrs.error, 'positive ack')
    t.equal(record.type, 'text')
    t.equal(record.text, 'hello statuses')
    t.equal(record.backgroundColor, '#12ab34')
    t.equal(record.font, 3)
    t.same(record.recipients.filter(r => r.decrypted).map(r => r.phone).sort(), [ALICE, BOB, SENDER].sort(), 'each contact decrypted it')
  })

  t.test('image with caption, downloaded and decrypted from the media host', async t => {
    const { ack, record } = await send({ image: png, caption: 'red square', mimetype: 'image/png' })
    t.notOk(ack.attrs.error)
    t.equal(record.type, 'image')
    t.equal(record.caption, 'red square')
    t.equal(record.media?.mimetype, 'image/png')
    t.equal(record.media?.size, png.length)
    t.equal(record.media?.sha256, sha(png))
    t.equal(record.recipients.filter(r => r.decrypted && r.phone !== SENDER).length, 2)
  })

  t.test('video', async t => {
    const { ack, record } = await send({ video: mp4, caption: 'clip', mimetype: 'video/mp4' })
    t.notOk(ack.attrs.error)
    t.equal(record.type, 'video')
    t.equal(record.caption, 'clip')
    t.equal(record.media?.sha256, sha(mp4))
    t.equal(record.media?.size, mp4.length)
  })

  t.test('url with a preview, and a plain link', async t => {
    const link = 'https://example.org/page'
    const withPreview = await send({ text: link, linkPreview: { 'canonical-url': link, 'matched-text': link, title: 'Example', description: 'A page' } }, { backgroundColor: '#000000' })
    t.notOk(withPreview.ack.attrs.error, 'positive ack')
    t.equal(withPreview.record.type, 'url')
    t.equal(withPreview.record.url, link)
    t.equal((withPreview.record.message as any).extendedTextMessage.title, 'Example')
    const plain = await send({ text: link, linkPreview: null })
    t.equal(plain.record.type, 'url')
    t.equal(plain.record.url, link)
  })

  t.test('read receipts by number and by LID reach message-receipt.update', async t => {
    await unbuffered(client)
    const { id } = await send({ text: 'who saw this?' })
    // Let the client's own messages.upsert flush, so receipts take the message-receipt.update path.
    await new Promise(resolve => setTimeout(resolve, 300))
    const seen: MessageUserReceiptUpdate[] = []
    client.sock.ev.on('message-receipt.update', updates => seen.push(...updates))
    const aliceAt = Date.parse('2026-01-02T03:04:05Z')
    const bobAt = Date.parse('2026-01-02T03:05:00Z')
    await s.client.viewStatus(SENDER, id, { viewers: [ALICE], at: aliceAt })
    await s.client.viewStatus(SENDER, id, { viewers: [BOB], at: bobAt, by: 'lid' })
    const bobLid = (await s.client.account(BOB)).lidJid
    for (let i = 0; i < 200 && seen.length < 2; i++) await new Promise(resolve => setTimeout(resolve, 50))
    const byViewer = Object.fromEntries(seen.filter(u => u.key.id === id).map(u => [u.receipt.userJid, u.receipt.readTimestamp]))
    t.equal(byViewer[`${ALICE}@s.whatsapp.net`], aliceAt / 1000, 'viewer by phone number with its time')
    t.equal(byViewer[bobLid], bobAt / 1000, 'viewer by LID with its time')
    t.equal(seen[0]!.key.remoteJid, 'status@broadcast')
  })

  t.test('receipts right behind the ack are folded into the sender\'s own message', async t => {
    await unbuffered(client)
    await s.client.viewNextStatusInstantly(SENDER, [ALICE])
    const folded: any[] = []
    const separate: MessageUserReceiptUpdate[] = []
    client.sock.ev.on('messages.upsert', ({ messages }) => folded.push(...messages))
    client.sock.ev.on('message-receipt.update', u => separate.push(...u))
    const { id } = await send({ text: 'seen at once' })
    for (let i = 0; i < 200 && !folded.some(m => m.key.id === id && m.userReceipt?.length); i++) await new Promise(resolve => setTimeout(resolve, 50))
    const mine = folded.find(m => m.key.id === id)
    t.ok(mine, 'the client emitted its own message')
    t.same(mine?.userReceipt?.map((r: any) => r.userJid), [`${ALICE}@s.whatsapp.net`], 'with the early viewer folded in')
    t.notOk(separate.some(u => u.key.id === id), 'and no separate receipt update for it')
  })

  t.test('revoke', async t => {
    const { id } = await send({ text: 'to be deleted' })
    const key = { remoteJid: 'status@broadcast', fromMe: true, id }
    await client.sock.sendMessage('status@broadcast', { delete: key }, { statusJidList: audience, broadcast: true } as any)
    let record = await s.client.status(SENDER, id)
    for (let i = 0; i < 200 && !record.revokedAt; i++) {
      await new Promise(resolve => setTimeout(resolve, 50))
      record = await s.client.status(SENDER, id)
    }
    t.ok(record.revokedAt, 'the recipients saw the revoke')
  })

  t.test('an error ack', async t => {
    await s.client.failNextMessages(SENDER, '479')
    const id = '3EB0ERRORACK0001'
    const acked = serverAck(client, id)
    await client.sock.sendMessage('status@broadcast', { text: 'refused' }, { statusJidList: audience, broadcast: true, messageId: id } as any)
    const ack = await acked
    t.equal(ack.attrs.error, '479')
    const record = await s.client.status(SENDER, id, 5000)
    t.equal(record.ack.error, '479', 'the simulator records the refusal')
    t.same(record.recipients, [], 'nobody received a refused status')
    const next = await send({ text: 'accepted again' })
    t.notOk(next.ack.attrs.error, 'the fault applies to the next message only')
  })
})

t.test('with lazyDecrypt the phones decrypt only when asked, in order, and views still work', async t => {
  const { s, client, audience } = await senderWithContacts(t, { lazyDecrypt: true })
  const ids = ['3EB0LAZY00000001', '3EB0LAZY00000002']
  for (const [i, id] of ids.entries()) {
    const acked = serverAck(client, id)
    await client.sock.sendMessage('status@broadcast', { text: `lazy ${i}` }, { statusJidList: audience, broadcast: true, messageId: id } as any)
    t.notOk((await acked).attrs.error, `status ${i} acknowledged`)
  }
  // The simulator decides at arrival, before its ack, whether to decrypt: both wait, not started.
  t.same((s.sim as unknown as { deferred: Array<{ id: string }> }).deferred.map(d => d.id), ids, 'no decryption started before anyone asks')
  t.same(s.sim.state.statuses.map(st => st.id), [], 'nothing decrypted before anyone asks')
  const all = await s.client.statuses(SENDER)
  t.same(all.map(st => st.text), ['lazy 0', 'lazy 1'], 'asking decrypts every status, in order')
  t.ok(all.every(st => st.recipients.filter(r => r.decrypted).length === 3), 'by every recipient')
  const views = await s.client.viewStatus(SENDER, ids[1]!, { viewers: [ALICE] })
  t.equal(views.delivered, 1, 'and a view reaches the sender')
})
