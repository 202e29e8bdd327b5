import t from 'tap'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { exitWhenDone } from '@wss/wa-sim/testing'
import { guardConsole } from '../../src/console-guard.ts'
import { createLogger } from '../../src/logger.ts'
import { metrics } from '../../src/lib/metrics.ts'
import { eventually, metricValue, startWorkerStack } from '../helpers.ts'

exitWhenDone(t)
guardConsole(createLogger('silent'))

const setup = startWorkerStack

/** Creates a pairing session for `phone` and links it from the simulated phone. */
async function linked (ctx: Awaited<ReturnType<typeof setup>>, phone: string) {
  await ctx.sim.client.createAccount(phone)
  const sessionId = `s-${randomUUID().slice(0, 8)}`
  await ctx.prisma.session.create({ data: { id: sessionId, name: phone, authMethod: 'pairing', phoneNumber: phone, state: 'connecting' } })
  const started = await ctx.bus.send('start-session', { sessionId })
  const result = await ctx.sim.client.enterPairingCode(phone, started.data.pairingCode)
  if (!result.linked) throw new Error('not linked')
  await ctx.events.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected)
  return sessionId
}

const state = async (ctx: Awaited<ReturnType<typeof setup>>, sessionId: string) => (await ctx.prisma.session.findUniqueOrThrow({ where: { id: sessionId } }))

t.test('connection faults after linking', async t => {
  const ctx = await setup(t)
  const phone = '15551010000'
  const sessionId = await linked(ctx, phone)

  const isStatus = (status: string) => (e: { event: string, data: any }) => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.status === status

  // 428: the socket drops; the worker reconnects by itself with backoff.
  const dropsBefore = await metricValue(metrics.disconnects, { reason: 'connectionClosed' })
  const [reconnectsBefore, connectsBefore] = [await metricValue(metrics.reconnects), await metricValue(metrics.connects)]
  let mark = ctx.events.mark()
  await ctx.sim.client.dropDevice(phone, 1)
  await ctx.events.waitFor(isStatus('connecting'), 10_000, mark)
  await ctx.events.waitFor(isStatus('connected'), 10_000, mark)
  t.equal((await state(ctx, sessionId)).state, 'connected', 'reconnected after 428')
  t.equal(await metricValue(metrics.disconnects, { reason: 'connectionClosed' }) - dropsBefore, 1, 'the 428 is counted by its reason')
  t.equal(await metricValue(metrics.reconnects) - reconnectsBefore, 1, 'one reconnect scheduled')
  t.equal(await metricValue(metrics.connects) - connectsBefore, 1, 'one connection opened again')

  // Refused connections for a while (long enough that the first attempt lands in it however loaded
  // the machine is): it keeps trying and comes back.
  await ctx.sim.client.refuseConnections(5000)
  mark = ctx.events.mark()
  await ctx.sim.client.dropDevice(phone, 1)
  await ctx.events.waitFor(isStatus('connecting'), 10_000, mark)
  await ctx.events.waitFor(isStatus('connected'), 30_000, mark)
  const refusals = (await ctx.sim.client.connections())['*']?.entries.filter(e => e.event === 'refused').length ?? 0
  t.ok(refusals >= 1, `reconnected once the server accepted again (after ${refusals} refused attempts)`)

  // 440: replaced by another client: no fight, no reconnect.
  t.same(await ctx.sim.client.replaceDevice(phone, 1), { replaced: 1 })
  await ctx.events.waitFor(isStatus('disconnected'))
  const row = await state(ctx, sessionId)
  t.match(row, { state: 'disconnected', lastError: /440/ })
  t.equal(await metricValue(metrics.disconnects, { reason: 'connectionReplaced' }), 1, 'the 440 is counted by its reason')
  // Once the worker let the session go, nothing is left that could reconnect it.
  t.ok(await eventually(() => ctx.manager.sessions.get(sessionId) === undefined), 'the worker let the session go')
  t.equal((await ctx.sim.client.deviceConnections(phone, 1)).open, 0, 'no reconnect after 440')

  // restart brings it back.
  const restarted = await ctx.bus.send('restart-session', { sessionId })
  t.equal(restarted.ok, true)
  t.ok(await eventually(async () => (await state(ctx, sessionId)).state === 'connected', 15_000), 'restart reconnects')
  t.equal((await ctx.sim.client.account(phone)).devices.length, 1, 'with the same device')
})

t.test('before the first link: renewed codes, a new number, a dropped socket', async t => {
  const ctx = await setup(t)
  const [phone, other] = ['15551020000', '15551020001']
  await ctx.sim.client.createAccount(phone)
  await ctx.sim.client.createAccount(other)
  const sessionId = `s-${randomUUID().slice(0, 8)}`
  await ctx.prisma.session.create({ data: { id: sessionId, name: 'p', authMethod: 'pairing', phoneNumber: phone, state: 'connecting' } })
  const first = await ctx.bus.send('start-session', { sessionId })
  t.match(first.data, { state: 'awaiting_pairing', pairingCode: /^[0-9A-Z]{8}$/ })

  // A dropped socket before linking starts over with a fresh code.
  t.same(await ctx.sim.client.dropAll(phone), { dropped: 1 }, 'the registering socket is cut')
  const fresh = await ctx.events.waitFor(e => e.event === 'pairing-code' && e.data.sessionId === sessionId && e.data.pairingCode !== first.data.pairingCode, 15_000)
  t.match(fresh.data.pairingCode, /^[0-9A-Z]{8}$/, 'it starts over with a fresh code')
  t.equal((await state(ctx, sessionId)).lastError, null, 'nothing was reported as a logout')

  const renewed = await ctx.bus.send('request-pairing-code', { sessionId })
  t.equal(renewed.ok, true)
  t.not(renewed.data.pairingCode, first.data.pairingCode, 'a fresh code')
  t.equal((await state(ctx, sessionId)).pairingCode, renewed.data.pairingCode)
  t.equal((await ctx.sim.client.enterPairingCode(phone, first.data.pairingCode)).linked, false, 'the old code no longer links')

  const moved = await ctx.bus.send('update-phone-number', { sessionId, phoneNumber: other })
  t.equal(moved.ok, true)
  t.equal((await state(ctx, sessionId)).phoneNumber, other)
  t.equal((await ctx.sim.client.enterPairingCode(other, moved.data.pairingCode)).linked, true, 'the new number links')
  await ctx.events.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected)
  t.equal((await state(ctx, sessionId)).ownNumber, other)
  const again = await ctx.bus.send('request-pairing-code', { sessionId })
  t.match(again, { ok: false, code: 'SESSION_ALREADY_CONNECTED' }, 'no code once connected')
})

t.test('large audiences, media and previews by URL, retention', async t => {
  // A local web server stands in for the internet; private addresses are allowed for this test only.
  const server = createServer((req, res) => {
    if (req.url === '/page') { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<html><head><meta property="og:title" content="Weekly menu"><meta property="og:description" content="Soups and bread"></head></html>'); return }
    if (req.url === '/pic.png') { res.writeHead(200, { 'content-type': 'image/png' }); res.end(Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082', 'hex')); return }
    res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  const ctx = await setup(t, { STATUS_CHUNK_SIZE: '3', FETCH_ALLOW_PRIVATE: 'true' })
  const phone = '15551030000'
  const sessionId = await linked(ctx, phone)
  const contacts = Array.from({ length: 7 }, (_, i) => String(15551030001 + i))
  for (const c of contacts) await ctx.sim.client.createAccount(c)

  const send = async (data: Record<string, unknown>) => {
    const id = randomUUID()
    await ctx.prisma.status.create({ data: { id, sessionId, state: 'pending', targetNumbers: contacts, ...data } as never })
    return { id, reply: await ctx.bus.send('send-status', { sessionId, statusId: id }) }
  }

  const big = await send({ type: 'text', content: 'to everyone' })
  t.equal(big.reply.ok, true)
  const progress = ctx.events.seen.filter(e => e.event === 'status-progress' && e.data.id === big.id).map(e => e.data.sent)
  t.same(progress, [3, 6, 8], 'sent in chunks of 3, with progress (own number + 7 contacts)')
  const msgId = (await ctx.prisma.status.findUniqueOrThrow({ where: { id: big.id } })).messageId!
  const onPhones = await ctx.sim.client.status(phone, msgId, 10_000)
  t.equal(onPhones.recipients.filter(r => r.decrypted && r.phone !== phone).length, 7, 'every contact received it')

  const link = await send({ type: 'url', content: `${base}/page` })
  t.equal(link.reply.ok, true)
  const linkMsg = (await ctx.prisma.status.findUniqueOrThrow({ where: { id: link.id } })).messageId!
  const linkOnPhones: any = await ctx.sim.client.status(phone, linkMsg, 10_000)
  t.match(linkOnPhones.message.extendedTextMessage, { title: 'Weekly menu', description: 'Soups and bread' }, 'a preview when the page can be fetched')

  const pic = await send({ type: 'image', content: `${base}/pic.png`, caption: 'from a URL' })
  t.equal(pic.reply.ok, true, JSON.stringify(pic.reply))
  const picMsg = (await ctx.prisma.status.findUniqueOrThrow({ where: { id: pic.id } })).messageId!
  t.match(await ctx.sim.client.status(phone, picMsg, 10_000), { type: 'image', caption: 'from a URL', media: { mimetype: 'image/png', size: 69 } })

  const missing = await send({ type: 'image', content: `${base}/nothing.png` })
  t.match(missing.reply, { ok: false, message: /404/ }, 'a URL that fails names the problem')
  t.equal((await ctx.prisma.status.findUniqueOrThrow({ where: { id: missing.id } })).state, 'failed')

  // Retention: old statuses go with their viewers; uploads go when expired or no live status needs them.
  const old = randomUUID()
  await ctx.prisma.status.create({ data: { id: old, sessionId, type: 'text', content: 'ancient', state: 'sent', createdAt: new Date(Date.now() - 31 * 86_400_000) } })
  await ctx.prisma.statusViewer.create({ data: { statusId: old, sessionId, viewerNumber: contacts[0]!, viewedAt: new Date() } })
  const upload = (id: string, extra: Record<string, unknown>) => ctx.prisma.upload.create({ data: { id, kind: 'image', mimeType: 'image/png', size: 1, sha256: 'x', data: Buffer.from('x'), ...extra } as never })
  await upload('expired.png', { expiresAt: new Date(Date.now() - 1000) })
  await upload('fresh.png', { expiresAt: new Date(Date.now() + 3_600_000) })
  await upload('live.png', {})
  await upload('done.png', {})
  await ctx.prisma.status.create({ data: { id: randomUUID(), sessionId, type: 'image', content: 'live.png', uploadId: 'live.png', state: 'sent', expiresAt: new Date(Date.now() + 3_600_000) } })
  await ctx.prisma.status.create({ data: { id: randomUUID(), sessionId, type: 'image', content: 'done.png', uploadId: 'done.png', state: 'sent', expiresAt: new Date(Date.now() - 1000) } })
  const hook = await ctx.prisma.webhookEndpoint.create({ data: { id: randomUUID(), url: 'https://hooks.example.com/', secret: 'whsec_x', enabled: false } })
  const delivery = (createdAt: Date) => ctx.prisma.webhookDelivery.create({ data: { id: randomUUID(), endpointId: hook.id, event: 'statuses-updated', payload: { sessionId }, state: 'delivered', createdAt } })
  const [oldDelivery, newDelivery] = [await delivery(new Date(Date.now() - 31 * 86_400_000)), await delivery(new Date())]
  await ctx.manager.maintenance.run()
  t.same((await ctx.prisma.webhookDelivery.findMany({ where: { endpointId: hook.id } })).map(d => d.id), [newDelivery.id], `webhook deliveries past retention go (${oldDelivery.id.slice(0, 8)})`)
  t.equal(await ctx.prisma.status.count({ where: { id: old } }), 0, 'a status past retention is gone')
  t.equal(await ctx.prisma.statusViewer.count({ where: { statusId: old } }), 0, 'with its viewers')
  t.same((await ctx.prisma.upload.findMany({ select: { id: true }, orderBy: { id: 'asc' } })).map(u => u.id), ['fresh.png', 'live.png'], 'uploads: kept while fresh or needed')
})

t.test('WhatsApp slower than the ack timeout: the send fails cleanly, a retry posts the same message', async t => {
  const ctx = await setup(t, { ACK_TIMEOUT_MS: '1000' })
  const phone = '15551040000'
  const contact = '15551040001'
  await ctx.sim.client.createAccount(contact)
  const sessionId = await linked(ctx, phone)
  const id = randomUUID()
  await ctx.prisma.status.create({ data: { id, sessionId, type: 'text', content: 'slow network', targetNumbers: [contact], state: 'pending' } })
  // Every server reply (device lists, pre-keys, the ack) waits 1.5 s: the ack timer fires while sendMessage still runs.
  await ctx.sim.client.delayReplies(1500, phone)
  const slow = await ctx.bus.send('send-status', { sessionId, statusId: id })
  t.match(slow, { ok: false, code: 'WORKER_TIMEOUT' }, 'the command reports the timeout')
  // The send goes on behind the timeout and reaches the phones.
  t.ok(await eventually(async () => (await ctx.sim.client.statuses(phone)).some(s => s.text === 'slow network'), 30_000, 200), 'the timed-out send still posts')
  await ctx.sim.client.delayReplies(0, phone)
  const retry = await ctx.bus.send('send-status', { sessionId, statusId: id })
  t.match(retry, { ok: true, data: { state: 'sent' } }, 'the worker is alive and the retry is sent')
  const messageId = (await ctx.prisma.status.findUniqueOrThrow({ where: { id } })).messageId!
  t.equal((await ctx.sim.client.statuses(phone)).filter(s => s.text === 'slow network').length, 1, 'one status on the phones, under one message id')
  t.ok((await ctx.sim.client.statuses(phone)).some(s => s.id === messageId))
})
