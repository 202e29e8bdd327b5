// POST /api/upload-audio: every accepted format becomes an OGG/Opus voice note with its length and
// waveform (real ffmpeg on sounds of a known shape), anything else is refused by its bytes, and
// ffmpeg runs bounded; then send-status takes it as `type: "audio"`.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { audioFile, HALF_SILENT, RAMP } from '../../audio-fixtures.ts'
import { auth, build, createPublisher, eventually, inspectQueue, multipart, registerWorker, sessionName, setOwner, testDatabase } from '../../helper.ts'

const db = await testDatabase(t)
const { prisma } = db
const png = await readFile(new URL('../../fixtures/red.png', import.meta.url))
const OPUS = 'audio/ogg; codecs=opus'
const NAME = /^\d{10}-[0-9a-f]{16}\.ogg$/
const m4aWithoutMovie = Buffer.concat([Buffer.from('0000001c667479704d3441200000000069736f6d4d344120', 'hex'), Buffer.from('00000008', 'hex'), Buffer.from('free'), Buffer.alloc(512, 7)])

async function post (app: Awaited<ReturnType<typeof build>>, bytes: Buffer, name: string, type = 'audio/mpeg') {
  const form = await multipart('audio', bytes, name, type)
  return await app.inject({ method: 'POST', url: '/api/upload-audio', headers: { ...auth, ...form.headers }, payload: form.payload })
}

/** What ffmpeg itself reads from stored bytes: codec, channels and duration of the first stream. */
async function probe (bytes: Uint8Array) {
  const dir = await mkdtemp(join(tmpdir(), 'wss-probe-'))
  try {
    await writeFile(join(dir, 'a'), bytes)
    const { stdout } = await promisify(execFile)('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,channels:format=format_name,duration', '-of', 'json', join(dir, 'a')])
    const info = JSON.parse(stdout)
    return { codec: info.streams[0].codec_name, channels: info.streams[0].channels, format: info.format.format_name, duration: Number(info.format.duration) }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

t.test('MP3, M4A, AAC and WAV are converted to OGG/Opus; OGG/Opus is kept as it is', async t => {
  const app = await build(t, { db })
  for (const ext of ['wav', 'mp3', 'm4a', 'aac', 'ogg'] as const) {
    const sent = await audioFile(ext, 3, RAMP(3))
    const res = await post(app, sent, `voice.${ext}`, 'application/octet-stream')
    t.equal(res.statusCode, 201, `${ext}: ${res.body}`)
    const data = res.json().data
    t.match(data, { filename: NAME, mimeType: OPUS, seconds: 3 }, ext)
    const row = await prisma.upload.findUniqueOrThrow({ where: { id: data.filename } })
    const stored = Buffer.from(row.data)
    t.match(row, { kind: 'audio', mimeType: OPUS, seconds: 3, size: stored.length }, ext)
    t.equal(data.size, stored.length, `${ext}: size is the stored voice note's`)
    t.equal(row.sha256, createHash('sha256').update(stored).digest('hex'))
    t.same([...row.waveform!], data.waveform, `${ext}: the row keeps the answered waveform`)
    if (ext === 'ogg') t.ok(stored.equals(sent), 'OGG/Opus is stored byte for byte')
    else t.notOk(stored.equals(sent), `${ext} is converted`)
    t.match(await probe(stored), { codec: 'opus', format: 'ogg' }, `${ext}: ffprobe reads Opus in OGG`)
    if (ext !== 'ogg') t.equal((await probe(stored)).channels, 1, 'converted to mono, as a voice note')
    // The sound's amplitude rises linearly: so does each of the 64 bars, to 100.
    t.equal(data.waveform.length, 64)
    t.equal(Math.max(...data.waveform), 100, `${ext}: the loudest bar is 100`)
    const off = data.waveform.slice(0, 62).map((v: number, i: number) => Math.abs(v - (100 * (i + 0.5)) / 64))
    t.ok(Math.max(...off) <= 6, `${ext}: bar i is about ${'100·(i+½)/64'} (worst ${Math.max(...off).toFixed(1)}): ${data.waveform}`)
  }
})

t.test('the waveform follows the sound: silent first half, loud second half', async t => {
  const app = await build(t, { db })
  const res = await post(app, await audioFile('mp3', 4, HALF_SILENT(4)), 'half.mp3')
  t.equal(res.statusCode, 201, res.body)
  const { waveform, seconds } = res.json().data
  t.equal(seconds, 4)
  t.ok(waveform.slice(0, 30).every((v: number) => v <= 2), `silent bars: ${waveform.slice(0, 32)}`)
  t.ok(waveform.slice(34).every((v: number) => v >= 90), `loud bars: ${waveform.slice(32)}`)
})

t.test('anything else is 415 by its bytes, whatever its name or declared type', async t => {
  const app = await build(t, { db })
  const before = await prisma.upload.count()
  for (const [name, bytes, error] of [
    ['notes.mp3', Buffer.from('just some text, not a sound'), /must be OGG\/Opus, MP3, M4A\/AAC or WAV; its bytes are an unknown type/],
    ['picture.mp3', png, /its bytes are image\/png/],
    ['vorbis.ogg', await audioFile('oga', 1, RAMP(1)), /its bytes are audio\/ogg$/],
    // An M4A's ftyp box and no movie: sniffed as M4A, but ffmpeg finds nothing to decode.
    ['broken.m4a', m4aWithoutMovie, /bytes are audio\/x-m4a but could not be decoded/]
  ] as const) {
    const res = await post(app, bytes, name)
    t.equal(res.statusCode, 415, `${name}: ${res.body}`)
    t.match(res.json(), { success: false, code: 'UNSUPPORTED_MEDIA_TYPE', error }, name)
  }
  t.equal(await prisma.upload.count(), before, 'nothing stored')
})

t.test('AUDIO_MAX_SECONDS: longer audio is 413 naming it', async t => {
  const app = await build(t, { db, env: { AUDIO_MAX_SECONDS: '2' } })
  const before = await prisma.upload.count()
  const res = await post(app, await audioFile('wav', 4, RAMP(4)), 'long.wav')
  t.equal(res.statusCode, 413)
  t.match(res.json(), { code: 'PAYLOAD_TOO_LARGE', error: /AUDIO_MAX_SECONDS \(2 s\)/ })
  t.equal((await post(app, await audioFile('ogg', 2, RAMP(2)), 'ok.ogg')).statusCode, 201, 'as long as the limit is fine')
  t.equal(await prisma.upload.count(), before + 1)
})

t.test('an ffmpeg that hangs is killed at AUDIO_CONVERT_TIMEOUT_MS (413); a missing one is 503', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'wss-ffmpeg-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // Stands for ffmpeg stuck on a hostile file: it never answers.
  const stuck = join(dir, 'ffmpeg')
  await writeFile(stuck, `#!/bin/sh\necho $$ > ${join(dir, 'pid')}\nexec sleep 60\n`)
  await chmod(stuck, 0o755)
  const wav = await audioFile('wav', 1, RAMP(1))
  const app = await build(t, { db, env: { FFMPEG_PATH: stuck, AUDIO_CONVERT_TIMEOUT_MS: '300' } })
  const res = await post(app, wav, 'a.wav')
  t.equal(res.statusCode, 413, res.body)
  t.match(res.json(), { code: 'PAYLOAD_TOO_LARGE', error: /AUDIO_CONVERT_TIMEOUT_MS/ })
  const pid = Number(await readFile(join(dir, 'pid'), 'utf8'))
  const gone = () => { try { process.kill(pid, 0); return false } catch { return true } }
  t.ok(await eventually(gone, 5000), 'the stuck process was killed')

  const missing = await build(t, { db, env: { FFMPEG_PATH: join(dir, 'no-such-ffmpeg') } })
  const res2 = await post(missing, wav, 'a.wav')
  t.equal(res2.statusCode, 503)
  t.match(res2.json(), { code: 'DEPENDENCY_UNAVAILABLE', error: /ffmpeg \(FFMPEG_PATH\)/ })
})

t.test('send-status takes an audio upload as type audio; no caption, no URL, no other kind', async t => {
  const redis = await createPublisher(t)
  const app = await build(t, { db, env: { SEND_TIMEOUT_MS: '150' } })
  const sessionId = sessionName()
  await prisma.session.create({ data: { id: sessionId, name: 'S', authMethod: 'pairing', phoneNumber: '4915123456789', state: 'connected', ownNumber: '4915123456789' } })
  await registerWorker(redis, app.config.REDIS_PREFIX, 'w1')
  await setOwner(redis, app.config.REDIS_PREFIX, sessionId, 'w1')
  const queue = await inspectQueue(t, app.config.REDIS_PREFIX, 'w1')
  const send = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: `/api/sessions/${sessionId}/send-status`, headers: auth, payload })

  const voice = (await post(app, await audioFile('ogg', 1, RAMP(1)), 'v.ogg')).json().data.filename
  const form = await multipart('image', png, 'a.png')
  const image = (await app.inject({ method: 'POST', url: '/api/upload-image', headers: { ...auth, ...form.headers }, payload: form.payload })).json().data.filename
  const ok = await send({ type: 'audio', content: voice, targetNumbers: '4915123456780' })
  t.equal(ok.statusCode, 202, ok.body)
  t.match(ok.json().data, { type: 'audio', content: voice, caption: null, state: 'pending' })
  t.equal((await prisma.status.findUniqueOrThrow({ where: { id: ok.json().data.id } })).uploadId, voice)

  for (const [name, payload, code, field] of [
    ['a caption', { type: 'audio', content: voice, caption: 'listen' }, 'VALIDATION', 'body.caption'],
    ['a URL', { type: 'audio', content: 'https://example.com/a.ogg' }, 'VALIDATION', 'body.content'],
    ['a font', { type: 'audio', content: voice, font: 1 }, 'VALIDATION', 'body.font'],
    ['an image as audio', { type: 'audio', content: image }, 'FILE_NOT_FOUND', undefined],
    ['audio as an image', { type: 'image', content: voice }, 'FILE_NOT_FOUND', undefined]
  ] as const) {
    const res = await send(payload)
    t.match(res.json(), { success: false, code }, name)
    if (field) t.equal(res.json().details?.[0]?.field, field, name)
  }
  t.equal(await queue.count(), 1, 'only the valid one was enqueued')
})
