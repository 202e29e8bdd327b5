// What a status carries when its content comes from the web (link previews, media URLs), and how a
// revoke reaches a large audience: through a real worker, Baileys and the simulator's phones.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { exitWhenDone } from '@wss/wa-sim/testing'
import { createLogger } from '../../src/logger.ts'
import { guardConsole } from '../../src/console-guard.ts'
import { eventually, startWorkerStack } from '../helpers.ts'

exitWhenDone(t)
guardConsole(createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'))

const png = readFileSync(new URL('../../../../e2e/test/fixtures/red.png', import.meta.url))
// The smallest JPEG file-type recognises: SOI and a JFIF APP0 segment.
const jpeg = Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex')
// The page that froze a worker for hours: one endless, never closed <meta> tag (~440 KB).
const hostile = '<html><head>' + '<meta name="og:title" '.repeat(20_000)

async function pageServer (t: { teardown (fn: () => unknown): void }) {
  const pages: Record<string, { type: string, body: string | Buffer }> = {
    '/article': {
      type: 'text/html; charset=utf-8',
      body: `<!doctype html><html><head><title>Fallback</title>
        <meta property="og:title" content="Fresh bread &amp; more">
        <meta property="og:description" content="${'Baked this morning. '.repeat(200)}">
        <meta property="og:image" content="/thumb.jpg"></head>
        <body><meta property="og:title" content="not in the head"></body></html>`
    },
    '/title-only': { type: 'text/html', body: `<html><head><title>  Only a\n title  </title></head><body>${'x'.repeat(1_000_000)}</body></html>` },
    '/hostile': { type: 'text/html', body: hostile },
    '/thumb.jpg': { type: 'image/jpeg', body: jpeg },
    '/png-called-jpeg': { type: 'image/jpeg', body: png },
    '/html-called-image': { type: 'image/png', body: '<html><body>not an image</body></html>' }
  }
  const server = createServer((req, res) => {
    const page = pages[req.url ?? '']
    if (!page) { res.writeHead(404).end(); return }
    res.writeHead(200, { 'content-type': page.type }).end(page.body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}

t.test('web content of statuses, and revokes to a chunked audience', async t => {
  const base = await pageServer(t)
  const { sim, prisma, events, bus } = await startWorkerStack(t, { FETCH_ALLOW_PRIVATE: 'true', STATUS_CHUNK_SIZE: '2' })
  const phone = '15557780000'
  const contacts = ['15557780001', '15557780002', '15557780003', '15557780004']
  for (const p of [phone, ...contacts]) await sim.client.createAccount(p)
  const sessionId = `s-${randomUUID().slice(0, 8)}`
  await prisma.session.create({ data: { id: sessionId, name: 'Shop', authMethod: 'pairing', phoneNumber: phone, state: 'connecting' } })
  const started = await bus.send('start-session', { sessionId, reason: 'created' })
  await sim.client.enterPairingCode(phone, started.data.pairingCode)
  await events.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected)

  /** Sends a status and answers the command's reply and, when it was sent, what the phones got. */
  async function send (type: string, content: string, targets = contacts.slice(0, 1)) {
    const id = randomUUID()
    await prisma.status.create({ data: { id, sessionId, type: type as never, content, targetNumbers: targets, state: 'pending' } })
    const reply = await bus.send('send-status', { sessionId, statusId: id }, 60_000)
    const row = await prisma.status.findUniqueOrThrow({ where: { id } })
    const onPhones = row.messageId && reply.ok ? await sim.client.status(phone, row.messageId, 10_000) : undefined
    return { id, reply, row, onPhones }
  }

  await t.test('a link preview comes from the page head, bounded, with its JPEG thumbnail', async t => {
    const { onPhones } = await send('url', `${base}/article`)
    const ext = (onPhones!.message as any).extendedTextMessage
    t.equal(ext.title, 'Fresh bread & more', 'og:title, entities decoded')
    t.ok(ext.description.startsWith('Baked this morning.'), 'og:description')
    t.ok(ext.description.length <= 1024, `description bounded (${ext.description.length} chars)`)
    t.equal(Buffer.from(ext.jpegThumbnail, 'base64').toString('hex'), jpeg.toString('hex'), 'og:image fetched as the thumbnail')
    const plain = await send('url', `${base}/title-only`)
    t.equal((plain.onPhones!.message as any).extendedTextMessage.title, 'Only a title', '<title> when there is no og:title')
  })

  await t.test('a hostile page does not freeze the worker: the status goes as a plain link', async t => {
    const { reply, onPhones } = await send('url', `${base}/hostile`)
    t.equal(reply.ok, true, JSON.stringify(reply))
    t.equal(onPhones!.url, `${base}/hostile`)
    t.notOk((onPhones!.message as any).extendedTextMessage?.title, 'no preview')
  })

  await t.test('media from a URL is judged by its bytes, not by the remote Content-Type', async t => {
    const image = await send('image', `${base}/png-called-jpeg`)
    t.equal(image.reply.ok, true, JSON.stringify(image.reply))
    t.equal(image.onPhones!.media?.mimetype, 'image/png', 'the sniffed type reaches WhatsApp')
    const fake = await send('image', `${base}/html-called-image`)
    t.match(fake.reply, { ok: false, code: 'UNSUPPORTED_MEDIA_TYPE', message: /must be JPEG, PNG or WebP/ })
    t.match(fake.row, { state: 'failed', error: /bytes are an unknown type/ }, 'the status failed, saying why')
    const video = await send('video', `${base}/png-called-jpeg`)
    t.match(video.row, { state: 'failed', error: /video .* must be MP4, 3GPP or QuickTime; its bytes are image\/png/ })
  })

  await t.test('a revoke reaches a large audience in chunks, as the send did', async t => {
    const { id, row } = await send('text', 'gone soon', contacts)
    const deleted = await bus.send('delete-status', { sessionId, statusId: id })
    t.equal(deleted.data.state, 'deleted')
    t.ok(await eventually(async () => (await sim.client.status(phone, row.messageId!)).revokeStanzas === 3, 10_000), 'own number + 4 contacts in stanzas of 2')
    const record = await sim.client.status(phone, row.messageId!)
    t.same([...record.revokedFor!].sort(), [phone, ...contacts].sort(), 'every contact saw the revoke')
  })
})
