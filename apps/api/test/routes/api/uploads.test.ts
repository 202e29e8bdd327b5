import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { auth, build, multipart, testDatabase } from '../../helper.ts'

const db = await testDatabase(t)
const { prisma } = db

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/${name}`, import.meta.url))
const png = fixture('red.png')
const jpeg = fixture('tiny.jpg')

function box (type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(8)
  header.writeUInt32BE(8 + body.length)
  header.write(type, 4, 'latin1')
  return Buffer.concat([header, body])
}
/** The start of an MP4: an `ftyp` box (brand, version, compatible brands) and a `free` box. */
const mp4 = (brand = 'isom') => Buffer.concat([
  box('ftyp', Buffer.concat([Buffer.from(brand, 'latin1'), Buffer.from([0, 0, 2, 0]), Buffer.from('isomiso2mp41', 'latin1')])),
  box('free', Buffer.alloc(16))
])

const NAME = /^\d{10}-[0-9a-f]{16}\.(jpg|png|webp|mp4|3gp|mov)$/

t.test('upload-image stores PNG and JPEG bytes under a server-chosen name', async t => {
  const app = await build(t, { db })
  for (const [bytes, clientName, mimeType, ext] of [
    [png, 'photo.png', 'image/png', 'png'],
    [jpeg, '../../etc/passwd', 'image/jpeg', 'jpg']
  ] as const) {
    const form = await multipart('image', bytes, clientName)
    const res = await app.inject({ method: 'POST', url: '/api/upload-image', headers: { ...auth, ...form.headers }, payload: form.payload })
    t.equal(res.statusCode, 201, clientName)
    const data = res.json().data
    t.match(data, { filename: NAME, size: bytes.length, mimeType })
    t.ok(data.filename.endsWith(`.${ext}`))
    t.notMatch(data.filename, /passwd|photo/, 'the client\'s name is not used')
    const row = await prisma.upload.findUniqueOrThrow({ where: { id: data.filename } })
    t.equal(row.kind, 'image')
    t.ok(Buffer.from(row.data).equals(bytes), 'the row holds the bytes')
    t.equal(row.sha256, createHash('sha256').update(bytes).digest('hex'))
    const ttl = row.expiresAt!.getTime() - row.createdAt.getTime()
    t.ok(Math.abs(ttl - 24 * 3600_000) < 60_000, 'expires after UPLOAD_TTL_HOURS')
  }
})

t.test('upload-video accepts MP4 and 3GPP by their ftyp box', async t => {
  const app = await build(t, { db, env: { UPLOAD_TTL_HOURS: '2' } })
  for (const [brand, mimeType] of [['isom', 'video/mp4'], ['M4V ', 'video/mp4'], ['3gp4', 'video/3gpp'], ['qt  ', 'video/quicktime']] as const) {
    const bytes = mp4(brand)
    const form = await multipart('video', bytes, 'clip.bin')
    const res = await app.inject({ method: 'POST', url: '/api/upload-video', headers: { ...auth, ...form.headers }, payload: form.payload })
    t.equal(res.statusCode, 201, brand)
    t.match(res.json().data, { filename: NAME, size: bytes.length, mimeType })
    const row = await prisma.upload.findUniqueOrThrow({ where: { id: res.json().data.filename } })
    t.equal(row.kind, 'video')
    t.ok(Buffer.from(row.data).equals(bytes))
    t.ok(Math.abs(row.expiresAt!.getTime() - row.createdAt.getTime() - 2 * 3600_000) < 60_000)
  }
})

t.test('the type comes from the bytes: 415 otherwise', async t => {
  const app = await build(t, { db })
  const before = await prisma.upload.count()
  for (const [url, field, bytes, name] of [
    ['/api/upload-image', 'image', Buffer.from('just some text, not a picture'), 'fake.jpg'],
    ['/api/upload-image', 'image', mp4(), 'video.jpg'],
    ['/api/upload-video', 'video', png, 'picture.mp4'],
    ['/api/upload-video', 'video', Buffer.from('%PDF-1.4 nope'), 'doc.mp4']
  ] as const) {
    const form = await multipart(field, bytes, name, field === 'image' ? 'image/jpeg' : 'video/mp4')
    const res = await app.inject({ method: 'POST', url, headers: { ...auth, ...form.headers }, payload: form.payload })
    t.equal(res.statusCode, 415, name)
    t.equal(res.json().code, 'UNSUPPORTED_MEDIA_TYPE', name)
  }
  const json = await app.inject({ method: 'POST', url: '/api/upload-image', headers: auth, payload: { image: 'x' } })
  t.equal(json.statusCode, 415, 'not multipart')
  t.equal(json.json().code, 'UNSUPPORTED_MEDIA_TYPE')
  t.equal(await prisma.upload.count(), before, 'nothing stored')
})

t.test('413 over MAX_UPLOAD_MB; 400 naming the field when it is missing or empty', async t => {
  const app = await build(t, { db, env: { MAX_UPLOAD_MB: '0.001' } })
  const big = Buffer.concat([png, Buffer.alloc(2048)])
  const tooBig = await multipart('image', big, 'big.png')
  const res = await app.inject({ method: 'POST', url: '/api/upload-image', headers: { ...auth, ...tooBig.headers }, payload: tooBig.payload })
  t.equal(res.statusCode, 413)
  t.equal(res.json().code, 'PAYLOAD_TOO_LARGE')

  const wrongField = await multipart('file', png, 'a.png')
  const wrong = await app.inject({ method: 'POST', url: '/api/upload-image', headers: { ...auth, ...wrongField.headers }, payload: wrongField.payload })
  t.equal(wrong.statusCode, 400)
  t.equal(wrong.json().details[0].field, 'body.image')

  const empty = await multipart('video', Buffer.alloc(0), 'empty.mp4')
  const none = await app.inject({ method: 'POST', url: '/api/upload-video', headers: { ...auth, ...empty.headers }, payload: empty.payload })
  t.equal(none.statusCode, 400)
  t.equal(none.json().details[0].field, 'body.video')
})

t.test('uploads larger than the JSON body limit pass up to MAX_UPLOAD_MB', async t => {
  const app = await build(t, { db, env: { MAX_UPLOAD_MB: '4' } })
  const bytes = Buffer.concat([png, Buffer.alloc(3 * 1024 * 1024)])
  const form = await multipart('image', bytes, 'big.png')
  const res = await app.inject({ method: 'POST', url: '/api/upload-image', headers: { ...auth, ...form.headers }, payload: form.payload })
  t.equal(res.statusCode, 201)
  t.equal(res.json().data.size, bytes.length)
})

t.test('a body that is not a readable multipart form: 415 or 400 in the envelope, never 500', async t => {
  const app = await build(t, { db })
  const before = await prisma.upload.count()
  const part = '--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
  for (const url of ['/api/upload-image', '/api/upload-video']) {
    for (const [type, payload, status] of [
      ['text/plain', 'hello', 415],
      ['application/json', '[]', 415],
      ['multipart/form-data', '--x', 400],
      ['multipart/form-data; boundary=x', '--x', 400],
      ['multipart/form-data; boundary=x', `${part}${png.subarray(0, 40).toString('latin1')}`, 400],
      ['multipart/form-data; boundary=x', '', 400]
    ] as const) {
      const res = await app.inject({ method: 'POST', url, headers: { ...auth, 'content-type': type }, payload })
      const what = `${url} ${type} ${JSON.stringify(payload.slice(0, 12))}`
      t.equal(res.statusCode, status, what)
      t.match(res.json(), { success: false, code: status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : /^(BAD_REQUEST|VALIDATION)$/ }, what)
    }
  }
  t.equal(await prisma.upload.count(), before, 'nothing stored')
})

t.test('UPLOAD_QUOTA_MB bounds what one client address stores: 429 naming the quota', async t => {
  // Room for two copies of the fixture, not three.
  const quotaMb = (png.length * 2.5) / (1024 * 1024)
  const metricsToken = 'metrics-token-0123456789abcdef'
  const app = await build(t, { db, env: { UPLOAD_QUOTA_MB: String(quotaMb), TRUST_PROXY: 'true', METRICS_TOKEN: metricsToken } })
  const send = async (address: string) => {
    const form = await multipart('image', png, 'a.png')
    return await app.inject({ method: 'POST', url: '/api/upload-image', headers: { ...auth, ...form.headers, 'x-forwarded-for': address }, payload: form.payload })
  }
  // Concurrent uploads take turns at the check: exactly two fit.
  const first = await Promise.all([1, 2, 3, 4].map(() => send('198.51.100.7')))
  t.same(first.map(r => r.statusCode).sort(), [201, 201, 429, 429])
  const refused = first.find(r => r.statusCode === 429)!
  t.match(refused.json(), { success: false, code: 'UPLOAD_QUOTA_EXCEEDED', error: /UPLOAD_QUOTA_MB/ })
  t.equal(await prisma.upload.count({ where: { clientAddress: '198.51.100.7' } }), 2, 'the refused ones stored nothing')
  const metrics = (await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${metricsToken}` } })).body
  t.match(metrics, /^wss_rate_limit_rejections_total 0$/m, 'a quota refusal is not counted as rate limiting')

  const other = await send('198.51.100.8')
  t.equal(other.statusCode, 201, 'another address has its own quota')
  const row = await prisma.upload.findUniqueOrThrow({ where: { id: other.json().data.filename } })
  t.equal(row.clientAddress, '198.51.100.8')
})
