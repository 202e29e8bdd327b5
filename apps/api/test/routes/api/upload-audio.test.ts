// POST /api/upload-audio: every accepted format becomes an OGG/Opus voice note with its length and
// waveform and without its tags (real ffmpeg on sounds of a known shape), an M4A is audio whatever
// its brand, anything else is refused by its bytes, and ffmpeg runs bounded; then send-status takes
// it as `type: "audio"`.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { fileTypeFromBuffer } from 'file-type'
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

/** What ffmpeg makes with these arguments (inputs and output options), written as `sound.<ext>`. */
async function made (ext: string, args: string[]): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'wss-made-'))
  try {
    await promisify(execFile)('ffmpeg', ['-v', 'error', ...args, join(dir, `sound.${ext}`)])
    return await readFile(join(dir, `sound.${ext}`))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** A file's sound decoded to 48 kHz mono 16-bit samples, and the tags ffprobe reads in it (container and streams). */
async function decoded (bytes: Uint8Array) {
  const dir = await mkdtemp(join(tmpdir(), 'wss-decode-'))
  try {
    await writeFile(join(dir, 'a'), bytes)
    const { stdout } = await promisify(execFile)('ffmpeg', ['-v', 'error', '-i', join(dir, 'a'), '-ac', '1', '-ar', '48000', '-f', 's16le', 'pipe:1'],
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 })
    const probed = JSON.parse((await promisify(execFile)('ffprobe', ['-v', 'error', '-show_entries', 'format_tags:stream_tags', '-of', 'json', join(dir, 'a')])).stdout)
    const tags = { ...probed.format?.tags, ...Object.assign({}, ...(probed.streams ?? []).map((st: { tags?: object }) => st.tags ?? {})) }
    return { samples: stdout, tags }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const tone = (seconds: number) => ['-f', 'lavfi', '-i', `aevalsrc=exprs='${RAMP(seconds)}':d=${seconds}:s=48000`]

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
    if (ext === 'ogg') t.ok((await decoded(stored)).samples.equals((await decoded(sent)).samples), 'OGG/Opus is re-muxed, not re-encoded: the same samples')
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

t.test('tags never reach the stored note: an OGG/Opus keeps its Opus packets, a conversion drops them too', async t => {
  const app = await build(t, { db })
  const tags = ['-metadata', 'title=Private memo', '-metadata', 'artist=Jane Roe', '-metadata', 'comment=call me at 555 0100']
  for (const [name, file] of [
    ['memo.ogg', await made('ogg', [...tone(2), '-c:a', 'libopus', ...tags])],
    ['memo.mp3', await made('mp3', [...tone(2), ...tags])]
  ] as const) {
    t.ok(file.includes('Private memo'), `${name} carries its tags`)
    const res = await post(app, file, name)
    t.equal(res.statusCode, 201, `${name}: ${res.body}`)
    const stored = Buffer.from((await prisma.upload.findUniqueOrThrow({ where: { id: res.json().data.filename } })).data)
    for (const text of ['Private memo', 'Jane Roe', '555 0100', 'Lavf']) t.notOk(stored.includes(text), `${name}: no "${text}" in the stored bytes`)
    const note = await decoded(stored)
    t.same(note.tags, {}, `${name}: ffprobe reads no tag`)
    if (name.endsWith('.ogg')) t.ok(note.samples.equals((await decoded(file)).samples), 'the same sound, sample for sample: not re-encoded')
  }
})

t.test('an M4A under the mp42 or isom brand is audio; an MP4 holding a video stays refused', async t => {
  const app = await build(t, { db })
  for (const brand of ['mp42', 'isom']) {
    const m4a = await made('m4a', [...tone(2), '-c:a', 'aac', '-f', 'mp4', '-brand', brand])
    t.equal(m4a.subarray(8, 12).toString('latin1'), brand)
    t.equal((await fileTypeFromBuffer(m4a))?.mime, 'video/mp4', `${brand}: its brand says video`)
    const res = await post(app, m4a, 'voice.m4a', 'audio/mp4')
    t.equal(res.statusCode, 201, `${brand}: ${res.body}`)
    t.match(res.json().data, { mimeType: OPUS, seconds: 2 }, `${brand}: a voice note`)
  }
  const before = await prisma.upload.count()
  const video = await made('mp4', ['-f', 'lavfi', '-i', 'testsrc=d=2:s=64x64:r=10', ...tone(2), '-c:v', 'mpeg4', '-c:a', 'aac', '-brand', 'mp42'])
  const res = await post(app, video, 'voice.m4a', 'audio/mp4')
  t.equal(res.statusCode, 415, res.body)
  t.match(res.json(), { code: 'UNSUPPORTED_MEDIA_TYPE', error: /its bytes are video\/mp4/ })
  t.equal(await prisma.upload.count(), before, 'nothing stored')
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

t.test('an M4A under a video brand with an ffprobe that hangs (413) or is missing (503): the answer says it was probing', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'wss-ffprobe-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const stuck = join(dir, 'ffprobe')
  await writeFile(stuck, '#!/bin/sh\nexec sleep 60\n')
  await chmod(stuck, 0o755)
  const m4a = await made('m4a', [...tone(1), '-c:a', 'aac', '-f', 'mp4', '-brand', 'mp42'])
  const hangs = await build(t, { db, env: { FFPROBE_PATH: stuck, AUDIO_CONVERT_TIMEOUT_MS: '300' } })
  const res = await post(hangs, m4a, 'voice.m4a', 'audio/mp4')
  t.equal(res.statusCode, 413, res.body)
  t.match(res.json(), { code: 'PAYLOAD_TOO_LARGE', error: /could not be probed by ffprobe \(FFPROBE_PATH\) within AUDIO_CONVERT_TIMEOUT_MS/ })

  const missing = await build(t, { db, env: { FFPROBE_PATH: join(dir, 'no-such-ffprobe') } })
  const res2 = await post(missing, m4a, 'voice.m4a', 'audio/mp4')
  t.equal(res2.statusCode, 503, res2.body)
  t.match(res2.json(), { code: 'DEPENDENCY_UNAVAILABLE', error: /^Audio cannot be probed: ffprobe \(FFPROBE_PATH\) is not available/ })
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
