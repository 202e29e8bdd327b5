import t from 'tap'
import { createHash, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import jsQRModule from 'jsqr'
import { PNG } from 'pngjs'
import { socketIoClient, wsClient } from '../src/events.ts'
import { eventually, startStack, type Stack } from '../src/stack.ts'

// jsqr is CommonJS: under NodeNext its default import types as the module, at run time it is the function.
const jsQR = jsQRModule as unknown as (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const png = readFileSync(new URL('./fixtures/red.png', import.meta.url))
// A minimal ISO-BMFF (MP4) file: ftyp + mdat; its type is detected from these bytes.
const mp4 = Buffer.concat([Buffer.from('000000186674797069736f6d0000020069736f6d69736f32', 'hex'), Buffer.from('00000408', 'hex'), Buffer.from('mdat'), Buffer.alloc(1024, 1)])

/** Reads the QR code out of a `data:image/png;base64,...` URL, as a phone camera would. */
function scanQrImage (dataUrl: string): string {
  const image = PNG.sync.read(Buffer.from(dataUrl.split(',')[1]!, 'base64'))
  const code = jsQR(new Uint8ClampedArray(image.data), image.width, image.height)
  if (!code) throw new Error('no QR code in the image')
  return code.data
}

async function upload (stack: Stack, kind: 'image' | 'video', bytes: Buffer, name: string, mime: string) {
  const form = new FormData()
  form.append(kind, new Blob([bytes], { type: mime }), name)
  return stack.api('POST', `/api/upload-${kind}`, form)
}

t.test('the whole flow through the API, a worker and the simulator', async t => {
  const stack = await startStack(t, { apis: 1, workers: 1 })
  const { sim } = stack
  const me = '15558880000'
  const [alice, bob] = ['15558880001', '15558880002']
  for (const p of [me, alice, bob]) await sim.client.createAccount(p)
  const sio = await socketIoClient(t, stack.apis[0]!.url, stack.apiKey)
  const ws = await wsClient(t, stack.apis[0]!.url, stack.apiKey)
  const sessionId = `shop-${randomUUID().slice(0, 6)}`

  // Pairing-code link.
  const created = await stack.api('POST', '/api/sessions', { sessionId, sessionName: 'Shop', authMethod: 'pairing', phoneNumber: '+1 (555) 888-0000' })
  t.equal(created.status, 201, JSON.stringify(created.body))
  t.equal(created.body.data.sessionId, sessionId)
  t.equal((await stack.api('POST', '/api/sessions', { sessionId, sessionName: 'again', phoneNumber: me })).status, 409, 'the id is taken')
  let code: string | undefined
  await eventually(async () => {
    const r = await stack.api('GET', `/api/sessions/${sessionId}/pairing-code`)
    code = r.body?.data?.pairingCode
    return !!code
  }, 20_000)
  t.match(code, /^[0-9A-Z]{8}$/, 'a pairing code')
  await sio.waitFor(e => e.event === 'pairing-code' && e.data.sessionId === sessionId)
  t.same(await sim.client.enterPairingCode(me, code!), { linked: true, jid: `${me}:1@s.whatsapp.net`, lid: (await sim.client.account(me)).lidJid.replace('@lid', ':1@lid'), deviceId: 1 })
  await sio.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected === true)
  await ws.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected === true)
  const cs = await stack.api('GET', `/api/sessions/${sessionId}/connection-status`)
  t.match(cs.body.data, { connected: true, ownNumber: me, state: 'connected' })

  // Each status type, checked by what the contacts' phones decrypted.
  const send = (body: Record<string, unknown>, headers?: Record<string, string>) => stack.api('POST', `/api/sessions/${sessionId}/send-status`, { targetNumbers: `${alice},${bob}`, ...body }, { headers })
  const onPhones = async (match: (s: any) => boolean) => {
    let found: any
    await eventually(async () => { found = (await sim.client.statuses(me)).find(match); return !!found }, 15_000)
    return found
  }
  const decryptedBy = (s: any) => s.recipients.filter((r: any) => r.decrypted).map((r: any) => r.phone).sort()

  const text = await send({ type: 'text', content: 'Fresh bread today', backgroundColor: '#aa3300', font: 2 })
  t.equal(text.status, 201, JSON.stringify(text.body))
  t.match(text.body.data, { type: 'text', content: 'Fresh bread today', state: 'sent', viewCount: 0 })
  const textOnPhones = await onPhones(s => s.text === 'Fresh bread today')
  t.match(textOnPhones, { type: 'text', backgroundColor: '#aa3300', font: 2 })
  t.same(decryptedBy(textOnPhones), [alice, bob, me].sort(), 'own number, alice and bob received it')
  await sio.waitFor(e => e.event === 'status-sent' && e.data.id === text.body.data.id)

  const img = await upload(stack, 'image', png, 'photo.png', 'image/png')
  t.ok([200, 201].includes(img.status), JSON.stringify(img.body))
  t.match(img.body.data, { mimeType: 'image/png', size: png.length, filename: /^\d+-[0-9a-f]+\.png$/ })
  const image = await send({ type: 'image', content: img.body.data.filename, caption: 'our oven' })
  t.equal(image.status, 201, JSON.stringify(image.body))
  const imageOnPhones = await onPhones(s => s.type === 'image' && s.caption === 'our oven')
  t.equal(imageOnPhones.media.sha256, sha(png), 'the contacts got the uploaded bytes')

  const vid = await upload(stack, 'video', mp4, 'clip.mp4', 'video/mp4')
  t.ok([200, 201].includes(vid.status), JSON.stringify(vid.body))
  const video = await send({ type: 'video', content: vid.body.data.filename, caption: 'baking' })
  t.equal(video.status, 201, JSON.stringify(video.body))
  const videoOnPhones = await onPhones(s => s.type === 'video' && s.caption === 'baking')
  t.equal(videoOnPhones.media.sha256, sha(mp4))

  const url = await send({ type: 'url', content: 'https://example.invalid/menu' })
  t.equal(url.status, 201, JSON.stringify(url.body))
  const urlOnPhones = await onPhones(s => s.type === 'url')
  t.equal(urlOnPhones.url, 'https://example.invalid/menu', 'a plain link when no preview can be fetched')

  // Idempotency: a retried request returns the first status and posts nothing new.
  const key = randomUUID()
  const first = await send({ type: 'text', content: 'only once' }, { 'idempotency-key': key })
  const retry = await send({ type: 'text', content: 'only once' }, { 'idempotency-key': key })
  t.equal(retry.body.data.id, first.body.data.id, 'the same status comes back')
  // A status sent after the retry reaching the phones: anything the retry had posted would be there too.
  t.equal((await send({ type: 'text', content: 'after the retry' })).status, 201)
  await onPhones(s => s.text === 'after the retry')
  t.equal((await sim.client.statuses(me)).filter(s => s.text === 'only once').length, 1, 'WhatsApp got it once')

  // WhatsApp refuses a status (an error ack): 502 with the reason, the status kept as failed.
  await sim.client.failNextMessages(me, '479')
  const refused = await send({ type: 'text', content: 'refused one' })
  t.equal(refused.status, 502, JSON.stringify(refused.body))
  t.match(refused.body, { success: false, error: /479/ })
  const failedList = await stack.api('GET', `/api/sessions/${sessionId}/statuses`)
  t.match(failedList.body.data.find((s: any) => s.content === 'refused one'), { state: 'failed', error: /479/ })

  // Viewers: alice by number, bob by LID.
  const aliceAt = Date.parse('2026-06-01T08:00:00Z')
  const bobAt = Date.parse('2026-06-01T08:03:00Z')
  await sim.client.viewStatus(me, textOnPhones.id, { viewers: [alice], at: aliceAt })
  await sim.client.viewStatus(me, textOnPhones.id, { viewers: [bob], at: bobAt, by: 'lid' })
  const statusId = text.body.data.id
  await sio.waitFor(e => e.event === 'status-viewers-update' && e.data.statusId === statusId && e.data.viewers.some((v: any) => v.viewerNumber === bob))
  await ws.waitFor(e => e.event === 'status-viewers-update' && e.data.statusId === statusId && e.data.viewers.some((v: any) => v.viewerNumber === bob))
  const viewers = await stack.api('GET', `/api/sessions/${sessionId}/statuses/${statusId}/viewers`)
  t.same(viewers.body.data, [
    { viewerNumber: alice, viewedAt: new Date(aliceAt).toISOString() },
    { viewerNumber: bob, viewedAt: new Date(bobAt).toISOString() }
  ], 'viewers by phone number with their first view time, oldest first')
  const list = await stack.api('GET', `/api/sessions/${sessionId}/statuses`)
  t.equal(list.body.data.find((s: any) => s.id === statusId)?.viewCount, 2)
  // Analytics of the same rows: both recipients (the own number left out) viewed it.
  const statusAnalytics = await stack.api('GET', `/api/sessions/${sessionId}/statuses/${statusId}/analytics`)
  t.match(statusAnalytics.body.data, { statusId, audience: 2, viewers: 2, reach: 1 }, 'status analytics')
  const sessionAnalytics = await stack.api('GET', `/api/sessions/${sessionId}/analytics?interval=hour&from=${new Date(Date.now() - 7_200_000).toISOString()}`)
  t.same(sessionAnalytics.body.data.topViewers.map((v: any) => v.viewerNumber).sort(), [alice, bob].sort(), 'the session\'s top viewers')

  // Delete.
  const del = await stack.api('DELETE', `/api/sessions/${sessionId}/statuses/${statusId}`)
  t.equal(del.status, 200, JSON.stringify(del.body))
  await sio.waitFor(e => e.event === 'status-deleted' && e.data.statusId === statusId)
  await ws.waitFor(e => e.event === 'status-deleted' && e.data.statusId === statusId)
  t.ok(await eventually(async () => !!(await sim.client.status(me, textOnPhones.id)).revokedAt), 'revoked on the phones')
  t.equal((await stack.api('GET', `/api/sessions/${sessionId}/statuses/${statusId}`)).body.data.state, 'deleted')

  // Worker restart: the session comes back without re-linking.
  stack.workers[0]!.proc.kill('SIGTERM')
  await stack.workers[0]!.exited
  await stack.addWorker()
  t.ok(await eventually(async () => (await stack.api('GET', `/api/sessions/${sessionId}/connection-status`)).body.data.connected === true, 30_000), 'connected again')
  t.equal((await sim.client.account(me)).devices.length, 1, 'the same linked device')

  // The logs of every process hold no API key and no auth material.
  const creds = (await stack.prisma.authCreds.findUniqueOrThrow({ where: { sessionId } })).creds as any
  const secrets = [stack.apiKey, creds.noiseKey.private.data, creds.signedIdentityKey.private.data, creds.signedPreKey.keyPair.private.data, creds.advSecretKey]
  const preKeys = await stack.prisma.authKey.findMany({ where: { sessionId, type: 'pre-key' }, take: 20 })
  for (const k of preKeys) secrets.push((k.value as any).private.data)
  const logs = stack.logs()
  t.ok(logs.length > 10_000, 'the processes did log')
  t.same(secrets.filter(s => typeof s === 'string' && s.length >= 16 && logs.includes(s)).length, 0, 'no secret appears in any log line')

  // Logout from the phone.
  await sim.client.logoutDevice(me, 1)
  await sio.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.status === 'logged_out')
  t.match((await stack.api('GET', `/api/sessions/${sessionId}/connection-status`)).body.data, { connected: false, state: 'logged_out' })
  t.ok(Object.values(await sim.client.connections()).every(l => l.maxOpen <= 1), 'never two connections of one device')
})

t.test('a QR link through the API', async t => {
  const stack = await startStack(t, { apis: 1, workers: 1 })
  const { sim } = stack
  const me = '15558881000'
  const contact = '15558881001'
  await sim.client.createAccount(me)
  await sim.client.createAccount(contact)
  const sio = await socketIoClient(t, stack.apis[0]!.url, stack.apiKey)
  const ws = await wsClient(t, stack.apis[0]!.url, stack.apiKey)
  const sessionId = `qr-${randomUUID().slice(0, 6)}`
  const created = await stack.api('POST', '/api/sessions', { sessionId, sessionName: 'QR shop', authMethod: 'qrcode' })
  t.equal(created.status, 201, JSON.stringify(created.body))
  const qrEvent = await sio.waitFor(e => e.event === 'qr-code' && e.data.sessionId === sessionId)
  t.match(qrEvent.data.qrCode, /^data:image\/png;base64,/)
  const cs = await stack.api('GET', `/api/sessions/${sessionId}/connection-status`)
  t.match(cs.body.data, { connected: false, state: 'awaiting_qr', qrCode: /^data:image\/png;base64,/ })
  const linked = await sim.client.scanQr(me, scanQrImage(cs.body.data.qrCode))
  t.equal(linked.linked, true, 'the phone scanned the QR image')
  await sio.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected === true)
  const sent = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content: 'linked by QR', targetNumbers: [contact] })
  t.equal(sent.status, 201, JSON.stringify(sent.body))
  let onPhone: any
  await eventually(async () => { onPhone = (await sim.client.statuses(me)).find(s => s.text === 'linked by QR'); return !!onPhone })
  t.ok(onPhone.recipients.find((r: any) => r.phone === contact)?.decrypted)
  await sim.client.viewStatus(me, onPhone.id, { viewers: [contact] })
  const update = await sio.waitFor(e => e.event === 'status-viewers-update' && e.data.statusId === sent.body.data.id)
  t.equal(update.data.viewers[0].viewerNumber, contact)
  await ws.waitFor(e => e.event === 'status-viewers-update' && e.data.statusId === sent.body.data.id)
  const viewers = await stack.api('GET', `/api/sessions/${sessionId}/statuses/${sent.body.data.id}/viewers`)
  t.equal(viewers.body.data[0].viewerNumber, contact, 'the viewer through the API')

  // Media through a QR-linked session too.
  const img = await upload(stack, 'image', png, 'qr.png', 'image/png')
  const image = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'image', content: img.body.data.filename, caption: 'qr image', targetNumbers: [contact] })
  t.equal(image.status, 201, JSON.stringify(image.body))
  let imageOnPhone: any
  await eventually(async () => { imageOnPhone = (await sim.client.statuses(me)).find(s => s.caption === 'qr image'); return !!imageOnPhone })
  t.equal(imageOnPhone.media.sha256, sha(png), 'the contact got the uploaded image')
  const del = await stack.api('DELETE', `/api/sessions/${sessionId}/statuses/${sent.body.data.id}`)
  t.equal(del.status, 200)
  await sio.waitFor(e => e.event === 'status-deleted' && e.data.statusId === sent.body.data.id)
  await ws.waitFor(e => e.event === 'status-deleted' && e.data.statusId === sent.body.data.id)

  // Deleting the session logs the device out and removes every row of it.
  const gone = await stack.api('DELETE', `/api/sessions/${sessionId}`)
  t.equal(gone.status, 200, JSON.stringify(gone.body))
  await sio.waitFor(e => e.event === 'session-deleted' && e.data.sessionId === sessionId)
  t.equal((await stack.api('GET', `/api/sessions/${sessionId}`)).status, 404)
  t.equal(await stack.prisma.authKey.count({ where: { sessionId } }), 0, 'auth state deleted')
  t.equal(await stack.prisma.status.count({ where: { sessionId } }), 0, 'statuses deleted')
  t.ok(await eventually(async () => (await sim.client.account(me)).devices.length === 0), 'the device was logged out on WhatsApp')
})
