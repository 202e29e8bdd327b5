// A voice status end to end: audio uploaded through the API (converted to OGG/Opus, or re-muxed
// without its tags when it already is), posted with `type: "audio"`, sent by a worker with Baileys, and decrypted by the
// contacts' simulated phones: the bytes, the length and the waveform they got are the upload's.
import t from 'tap'
import { createHash, randomUUID } from 'node:crypto'
import { audioFile, HALF_SILENT } from '../src/audio.ts'
import { socketIoClient } from '../src/events.ts'
import { eventually, startStack, type Stack } from '../src/stack.ts'

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const OPUS = 'audio/ogg; codecs=opus'

async function uploadAudio (stack: Stack, bytes: Buffer, name: string) {
  const form = new FormData()
  form.append('audio', new Blob([bytes], { type: 'application/octet-stream' }), name)
  return stack.api('POST', '/api/upload-audio', form)
}

t.test('a voice status reaches the contacts\' phones with its bytes, length and waveform', async t => {
  const stack = await startStack(t, { apis: 1, workers: 1 })
  const { sim, prisma } = stack
  const me = '15557790000'
  const [alice, bob] = ['15557790001', '15557790002']
  for (const p of [me, alice, bob]) await sim.client.createAccount(p)
  const sio = await socketIoClient(t, stack.apis[0]!.url, stack.apiKey)
  const sessionId = `voice-${randomUUID().slice(0, 6)}`
  t.equal((await stack.api('POST', '/api/sessions', { sessionId, sessionName: 'Voice', phoneNumber: me })).status, 201)
  let code: string | undefined
  await eventually(async () => {
    code = (await stack.api('GET', `/api/sessions/${sessionId}/pairing-code`)).body?.data?.pairingCode
    return !!code
  }, 20_000)
  await sim.client.enterPairingCode(me, code!)
  await sio.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected === true)

  const send = (content: string) => stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'audio', content, targetNumbers: `${alice},${bob}` })
  const onPhones = async (messageIdOf: string) => {
    const row = await prisma.status.findUniqueOrThrow({ where: { id: messageIdOf } })
    return await sim.client.status(me, row.messageId!, 15_000)
  }

  await t.test('a WAV is converted: the phones decrypt the stored voice note, with its waveform', async t => {
    const up = await uploadAudio(stack, await audioFile('wav', 4, HALF_SILENT(4)), 'memo.wav')
    t.equal(up.status, 201, JSON.stringify(up.body))
    const upload = up.body.data
    t.match(upload, { mimeType: OPUS, seconds: 4, filename: /\.ogg$/ })
    const stored = await prisma.upload.findUniqueOrThrow({ where: { id: upload.filename } })

    const sent = await send(upload.filename)
    t.equal(sent.status, 201, JSON.stringify(sent.body))
    t.match(sent.body.data, { type: 'audio', content: upload.filename, state: 'sent' })
    await sio.waitFor(e => e.event === 'status-sent' && e.data.id === sent.body.data.id && e.data.type === 'audio')

    const got = await onPhones(sent.body.data.id)
    t.equal(got.type, 'audio')
    t.same(got.recipients.filter(r => r.decrypted).map(r => r.phone).sort(), [alice, bob, me].sort(), 'own number, alice and bob decrypted it')
    t.equal(got.media!.sha256, sha(stored.data), 'the phones got the stored voice note, byte for byte')
    t.equal(got.media!.size, upload.size)
    t.match(got.media, { mimetype: OPUS, ptt: true, seconds: 4 }, 'a push-to-talk voice note of 4 s')
    const waveform = got.media!.waveform!
    t.same(waveform, upload.waveform, 'the waveform computed at upload')
    t.equal(waveform.length, 64)
    t.ok(waveform.slice(0, 30).every(v => v <= 2), `the silent half is flat: ${waveform.slice(0, 32)}`)
    t.ok(waveform.slice(34).every(v => v >= 90), `the tone is loud: ${waveform.slice(32)}`)
    t.match((got.message as any).audioMessage, { ptt: true, mimetype: OPUS, seconds: 4 }, 'the decrypted audioMessage itself')

    // A contact plays it: the session records the view.
    await sim.client.viewStatus(me, got.id, { viewers: [alice] })
    await sio.waitFor(e => e.event === 'status-viewers-update' && e.data.statusId === sent.body.data.id)
    const viewers = await stack.api('GET', `/api/sessions/${sessionId}/statuses/${sent.body.data.id}/viewers`)
    t.same(viewers.body.data.map((v: any) => v.viewerNumber), [alice])
  })

  await t.test('an OGG/Opus upload is posted as stored: its tags gone, byte for byte what the phones decrypt', async t => {
    const ogg = await audioFile('ogg', 2, HALF_SILENT(2), { title: 'Private memo', artist: 'Jane Roe' })
    t.ok(ogg.includes('Private memo'), 'the file carries its tags')
    const up = await uploadAudio(stack, ogg, 'note.ogg')
    t.equal(up.status, 201, JSON.stringify(up.body))
    const stored = Buffer.from((await prisma.upload.findUniqueOrThrow({ where: { id: up.body.data.filename } })).data)
    t.equal(up.body.data.size, stored.length)
    t.notOk(stored.includes('Private memo') || stored.includes('Jane Roe'), 'stored without its tags')
    const sent = await send(up.body.data.filename)
    t.equal(sent.status, 201, JSON.stringify(sent.body))
    const got = await onPhones(sent.body.data.id)
    t.equal(got.media!.sha256, sha(stored), 'the stored bytes, unchanged')
    t.match(got.media, { mimetype: OPUS, ptt: true, seconds: 2 })
    t.same(got.media!.waveform, up.body.data.waveform)
  })
})
