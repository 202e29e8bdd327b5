import { randomUUID } from 'node:crypto'
import t from 'tap'
import { Prisma } from '../src/index.ts'
import { migratedPrisma } from './helpers.ts'

const { prisma } = await migratedPrisma(t)

function newSession (id = `s-${randomUUID()}`) {
  return prisma.session.create({ data: { id, name: 'Shop', authMethod: 'pairing', phoneNumber: '4915112345678' } })
}

t.test('session: defaults and fields round-trip', async (t) => {
  const s = await newSession()
  t.equal(s.state, 'connecting')
  t.equal(s.generation, 0n)
  t.equal(s.linkedAt, null)
  t.ok(s.createdAt instanceof Date)
  const linkedAt = new Date('2026-01-02T03:04:05.678Z')
  const qr = 'data:image/png;base64,iVBORw0KGgo='
  await prisma.session.update({
    where: { id: s.id },
    data: { state: 'awaiting_qr', qrCode: qr, ownNumber: '4915112345678', ownLid: '12345@lid', linkedAt },
  })
  const read = await prisma.session.findUniqueOrThrow({ where: { id: s.id } })
  t.equal(read.state, 'awaiting_qr')
  t.equal(read.qrCode, qr)
  t.same(read.linkedAt, linkedAt)
  t.ok(read.updatedAt >= s.updatedAt)
})

t.test('session id longer than 64 characters is refused', async (t) => {
  await t.rejects(newSession('x'.repeat(65)))
})

t.test('auth creds and keys: JSON round-trip, keyed by (session, type, id)', async (t) => {
  const s = await newSession()
  const creds = { noiseKey: { private: { type: 'Buffer', data: 'AAEC' } }, registered: true, me: { id: '1@s.whatsapp.net' } }
  await prisma.authCreds.create({ data: { sessionId: s.id, creds } })
  t.same((await prisma.authCreds.findUniqueOrThrow({ where: { sessionId: s.id } })).creds, creds)

  await prisma.authKey.createMany({
    data: [
      { sessionId: s.id, type: 'pre-key', id: '1', value: { a: 1 } },
      { sessionId: s.id, type: 'pre-key', id: '2', value: { a: 2 } },
      { sessionId: s.id, type: 'session', id: '1', value: { b: 1 } },
    ],
  })
  const preKeys = await prisma.authKey.findMany({ where: { sessionId: s.id, type: 'pre-key' }, orderBy: { id: 'asc' } })
  t.same(preKeys.map((k) => k.value), [{ a: 1 }, { a: 2 }])
  await t.rejects(
    prisma.authKey.create({ data: { sessionId: s.id, type: 'pre-key', id: '1', value: {} } }),
    { code: 'P2002' },
    'one row per (session, type, id)'
  )
  await prisma.authKey.update({
    where: { sessionId_type_id: { sessionId: s.id, type: 'session', id: '1' } },
    data: { value: { b: 2 } },
  })
  const key = await prisma.authKey.findUniqueOrThrow({
    where: { sessionId_type_id: { sessionId: s.id, type: 'session', id: '1' } },
  })
  t.same(key.value, { b: 2 })
})

t.test('upload and status: bytes, arrays, upload link', async (t) => {
  const s = await newSession()
  const data = Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x01])
  const upload = await prisma.upload.create({
    data: {
      id: `1730000000-${randomUUID().slice(0, 6)}.jpg`,
      kind: 'image',
      mimeType: 'image/jpeg',
      size: data.length,
      sha256: 'e3b0c442',
      data,
      expiresAt: new Date(Date.now() + 3600_000),
    },
  })
  t.same(Buffer.from((await prisma.upload.findUniqueOrThrow({ where: { id: upload.id } })).data), data)

  const id = randomUUID()
  await prisma.status.create({
    data: {
      id,
      sessionId: s.id,
      type: 'image',
      content: upload.id,
      caption: 'hello',
      targetNumbers: ['4915100000001', '4915100000002'],
      uploadId: upload.id,
      idempotencyKey: 'k1',
    },
  })
  await prisma.status.update({
    where: { id },
    data: { state: 'sent', messageId: '3EB0ABC', audience: ['4915100000001@s.whatsapp.net'], sentAt: new Date() },
  })
  const st = await prisma.status.findUniqueOrThrow({ where: { id }, include: { upload: true } })
  t.equal(st.state, 'sent')
  t.same(st.targetNumbers, ['4915100000001', '4915100000002'])
  t.same(st.audience, ['4915100000001@s.whatsapp.net'])
  t.equal(st.upload?.id, upload.id)
  t.equal((await prisma.status.findUniqueOrThrow({ where: { sessionId_messageId: { sessionId: s.id, messageId: '3EB0ABC' } } })).id, id)

  await t.rejects(
    prisma.status.create({ data: { id: randomUUID(), sessionId: s.id, type: 'text', content: 'again', idempotencyKey: 'k1' } }),
    { code: 'P2002' },
    'an idempotency key is used once per session'
  )
  // Without a key, nothing is unique.
  await prisma.status.create({ data: { id: randomUUID(), sessionId: s.id, type: 'text', content: 'a' } })
  await prisma.status.create({ data: { id: randomUUID(), sessionId: s.id, type: 'text', content: 'b' } })

  await prisma.upload.delete({ where: { id: upload.id } })
  t.equal((await prisma.status.findUniqueOrThrow({ where: { id } })).uploadId, null, 'deleting an upload unlinks its statuses')
})

t.test('status viewers: the first view is kept', async (t) => {
  const s = await newSession()
  const statusId = randomUUID()
  await prisma.status.create({ data: { id: statusId, sessionId: s.id, type: 'text', content: 'hi' } })
  const first = new Date('2026-01-01T10:00:00.000Z')
  const later = new Date('2026-01-01T11:00:00.000Z')

  // The insert-if-absent a receipt handler does: ON CONFLICT DO NOTHING.
  const a = await prisma.statusViewer.createMany({
    data: [{ statusId, viewerNumber: '4915100000001', sessionId: s.id, viewedAt: first }],
    skipDuplicates: true,
  })
  const b = await prisma.statusViewer.createMany({
    data: [{ statusId, viewerNumber: '4915100000001', sessionId: s.id, viewedAt: later, viewerLid: '99@lid' }],
    skipDuplicates: true,
  })
  t.equal(a.count, 1)
  t.equal(b.count, 0)
  await t.rejects(
    prisma.statusViewer.create({ data: { statusId, viewerNumber: '4915100000001', sessionId: s.id, viewedAt: later } }),
    { code: 'P2002' }
  )
  const rows = await prisma.statusViewer.findMany({ where: { statusId } })
  t.equal(rows.length, 1)
  t.same(rows[0]!.viewedAt, first)
  t.equal(rows[0]!.played, false)
  t.equal(
    await prisma.statusViewer.count({ where: { sessionId: s.id } }),
    1
  )
})

t.test('deleting a session removes its auth state, statuses and viewers', async (t) => {
  const s = await newSession()
  const other = await newSession()
  const statusId = randomUUID()
  const otherStatusId = randomUUID()
  await prisma.authCreds.create({ data: { sessionId: s.id, creds: {} } })
  await prisma.authKey.create({ data: { sessionId: s.id, type: 'pre-key', id: '1', value: {} } })
  await prisma.status.create({ data: { id: statusId, sessionId: s.id, type: 'text', content: 'x' } })
  await prisma.statusViewer.create({ data: { statusId, sessionId: s.id, viewerNumber: '1', viewedAt: new Date() } })
  await prisma.status.create({ data: { id: otherStatusId, sessionId: other.id, type: 'text', content: 'y' } })
  await prisma.statusViewer.create({ data: { statusId: otherStatusId, sessionId: other.id, viewerNumber: '1', viewedAt: new Date() } })

  await prisma.session.delete({ where: { id: s.id } })

  t.equal(await prisma.authCreds.count({ where: { sessionId: s.id } }), 0)
  t.equal(await prisma.authKey.count({ where: { sessionId: s.id } }), 0)
  t.equal(await prisma.status.count({ where: { sessionId: s.id } }), 0)
  t.equal(await prisma.statusViewer.count({ where: { statusId } }), 0)
  t.equal(await prisma.status.count({ where: { sessionId: other.id } }), 1, 'other sessions keep theirs')
  t.equal(await prisma.statusViewer.count({ where: { statusId: otherStatusId } }), 1)
})

t.test('enums and Prisma namespace are re-exported', async (t) => {
  const { SessionState, StatusState, AuthMethod, StatusType, UploadKind } = await import('../src/index.ts')
  t.equal(SessionState.awaiting_pairing, 'awaiting_pairing')
  t.equal(StatusState.deleted, 'deleted')
  t.equal(AuthMethod.qrcode, 'qrcode')
  t.equal(StatusType.url, 'url')
  t.equal(UploadKind.video, 'video')
  t.type(Prisma.PrismaClientKnownRequestError, 'function')
})
