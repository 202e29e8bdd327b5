import t from 'tap'
import { randomUUID } from 'node:crypto'
import { exitWhenDone } from '@wss/wa-sim/testing'
import { createLogger } from '../../src/logger.ts'
import { guardConsole } from '../../src/console-guard.ts'
import { eventually, startWorkerStack } from '../helpers.ts'

exitWhenDone(t)
guardConsole(createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'))

t.test('a session through a real worker, Baileys and the simulator', async t => {
  const { sim, prisma, events, bus, ...stack } = await startWorkerStack(t)
  const prefix = stack.config.REDIS_PREFIX

  const phone = '15557770000'
  const [alice, bob] = ['15557770001', '15557770002']
  for (const p of [phone, alice, bob]) await sim.client.createAccount(p)
  const sessionId = `s-${randomUUID().slice(0, 8)}`
  await prisma.session.create({ data: { id: sessionId, name: 'Shop', authMethod: 'pairing', phoneNumber: phone, state: 'connecting' } })

  // Pairing code link.
  const started = await bus.send('start-session', { sessionId, reason: 'created' })
  t.equal(started.ok, true)
  t.equal(started.data.state, 'awaiting_pairing')
  t.match(started.data.pairingCode, /^[0-9A-Z]{8}$/)
  await events.waitFor(e => e.event === 'pairing-code' && e.data.sessionId === sessionId && e.data.pairingCode === started.data.pairingCode)
  const linked = await sim.client.enterPairingCode(phone, started.data.pairingCode)
  t.equal(linked.linked, true)
  const connected = await events.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected)
  t.equal(connected.data.ownNumber, phone)
  const row = await prisma.session.findUniqueOrThrow({ where: { id: sessionId } })
  t.equal(row.state, 'connected')
  t.equal(row.pairingCode, null)
  t.ok(row.linkedAt)
  t.ok(await prisma.authKey.count({ where: { sessionId } }) > 800, 'the pre-keys are in Postgres')

  // A status to two contacts.
  const statusId = randomUUID()
  await prisma.status.create({ data: { id: statusId, sessionId, type: 'text', content: 'fresh bread today', targetNumbers: [alice, bob], backgroundColor: '#aa3300', font: 2, state: 'pending' } })
  const sent = await bus.send('send-status', { sessionId, statusId })
  t.equal(sent.ok, true, JSON.stringify(sent))
  t.equal(sent.data.state, 'sent')
  const status = await prisma.status.findUniqueOrThrow({ where: { id: statusId } })
  t.ok(status.messageId)
  t.ok(status.expiresAt && status.sentAt && status.expiresAt.getTime() - status.sentAt.getTime() === 86_400_000)
  await events.waitFor(e => e.event === 'status-sent' && e.data.id === statusId)
  const onPhones = await sim.client.status(phone, status.messageId!, 10_000)
  t.equal(onPhones.text, 'fresh bread today')
  t.equal(onPhones.backgroundColor, '#aa3300')
  t.equal(onPhones.font, 2)
  t.same(onPhones.recipients.filter(r => r.decrypted).map(r => r.phone).sort(), [phone, alice, bob].sort(), 'own number, alice and bob')

  // Viewers: alice by number, bob by LID; a repeated view keeps the first time. The repeat comes
  // before bob's view: the worker announces batches in order, so once bob's announcement is here,
  // an announcement of the repeat would be too.
  // Baileys folds receipts that arrive while the send's own upsert is buffered into it, last one
  // winning; these views come after that buffer (a wait, not an assertion: nothing announces it).
  await new Promise(resolve => setTimeout(resolve, 300))
  const aliceAt = Date.parse('2026-05-01T10:00:00Z')
  const bobAt = Date.parse('2026-05-01T10:05:00Z')
  await sim.client.viewStatus(phone, status.messageId!, { viewers: [alice], at: aliceAt })
  await sim.client.viewStatus(phone, status.messageId!, { viewers: [alice], at: aliceAt + 60_000 })
  await sim.client.viewStatus(phone, status.messageId!, { viewers: [bob], at: bobAt, by: 'lid' })
  t.ok(await eventually(async () => (await prisma.statusViewer.count({ where: { statusId } })) === 2, 10_000), 'two viewers recorded')
  const viewers = await prisma.statusViewer.findMany({ where: { statusId }, orderBy: { viewedAt: 'asc' } })
  t.same(viewers.map(v => [v.viewerNumber, v.viewedAt.getTime()]), [[alice, aliceAt], [bob, bobAt]], 'by phone number, LID mapped, first view kept')
  t.ok(viewers[1]!.viewerLid, 'the LID is kept too')
  t.ok(await eventually(async () => (await sim.client.status(phone, status.messageId!)).receiptAcks === 3, 10_000), 'each of the three receipts acknowledged to the server')
  await events.waitFor(e => e.event === 'status-viewers-update' && e.data.statusId === statusId && e.data.viewers.some((v: any) => v.viewerNumber === bob))
  const announced = events.seen.filter(e => e.event === 'status-viewers-update' && e.data.statusId === statusId).flatMap(e => e.data.viewers)
  t.same(announced.sort((a: any, b: any) => a.viewedAt.localeCompare(b.viewedAt)), [
    { viewerNumber: alice, viewedAt: new Date(aliceAt).toISOString() },
    { viewerNumber: bob, viewedAt: new Date(bobAt).toISOString() }
  ], 'each new viewer announced once; a repeated view is not news')

  // Revoke.
  const deleted = await bus.send('delete-status', { sessionId, statusId })
  t.equal(deleted.data.state, 'deleted')
  await events.waitFor(e => e.event === 'status-deleted' && e.data.statusId === statusId)
  t.ok(await eventually(async () => !!(await sim.client.status(phone, status.messageId!)).revokedAt, 10_000), 'the contacts saw the revoke')

  // Views that arrive right behind the ack are folded into the client's own message: recorded too.
  await sim.client.viewNextStatusInstantly(phone, [alice, bob], 'lid')
  const earlyId = randomUUID()
  await prisma.status.create({ data: { id: earlyId, sessionId, type: 'text', content: 'seen at once', targetNumbers: [alice, bob], state: 'pending' } })
  t.equal((await bus.send('send-status', { sessionId, statusId: earlyId })).ok, true)
  t.ok(await eventually(async () => (await prisma.statusViewer.count({ where: { statusId: earlyId } })) === 2, 10_000), 'early viewers recorded')
  t.same((await prisma.statusViewer.findMany({ where: { statusId: earlyId }, orderBy: { viewerNumber: 'asc' } })).map(v => v.viewerNumber), [alice, bob], 'by phone number (LIDs mapped)')

  // An error ack: the status is failed, with the reason.
  await sim.client.failNextMessages(phone, '479')
  const refusedId = randomUUID()
  await prisma.status.create({ data: { id: refusedId, sessionId, type: 'text', content: 'refused', targetNumbers: [alice], state: 'pending' } })
  const refused = await bus.send('send-status', { sessionId, statusId: refusedId })
  t.match(refused, { ok: false, code: 'WHATSAPP_REFUSED', message: /479/ })
  t.match(await prisma.status.findUniqueOrThrow({ where: { id: refusedId } }), { state: 'failed', error: /479/ })
  const again = await bus.send('send-status', { sessionId, statusId: refusedId })
  t.match(again, { ok: false, code: 'WHATSAPP_REFUSED' }, 'a retried command does not post again')

  // Many statuses in a row: each decrypts, and the sender's key record does not grow with them
  // (Baileys skipped one chain key per status and kept it: ~0.5 MB rewritten per send; patched).
  const senderKeyBytes = async () => {
    const rows = await prisma.$queryRaw<Array<{ bytes: number }>>`SELECT length(value::text)::int AS bytes FROM auth_keys WHERE session_id = ${sessionId} AND type = 'sender-key'`
    return Math.max(0, ...rows.map(r => r.bytes))
  }
  const before = await senderKeyBytes()
  let lastId = ''
  for (let i = 0; i < 15; i++) {
    lastId = randomUUID()
    await prisma.status.create({ data: { id: lastId, sessionId, type: 'text', content: `in a row ${i}`, targetNumbers: [alice], state: 'pending' } })
    t.equal((await bus.send('send-status', { sessionId, statusId: lastId })).ok, true)
  }
  const lastMessageId = (await prisma.status.findUniqueOrThrow({ where: { id: lastId } })).messageId!
  const last = await sim.client.status(phone, lastMessageId, 10_000)
  t.equal(last.text, 'in a row 14')
  t.ok(last.recipients.some(r => r.phone === alice && r.decrypted), 'the 15th status in a row decrypts')
  t.ok(await senderKeyBytes() <= before + 200, `the sender key record stays the same size (${before} → ${await senderKeyBytes()} bytes)`)

  // Worker restart: the session comes back without re-linking.
  const manager = await stack.restart(`w2-${prefix}`)
  t.ok(await eventually(() => manager.sessions.get(sessionId)?.connected ?? false, 20_000), 'resumed on the new worker')
  t.equal((await sim.client.account(phone)).devices.length, 1, 'no new device: no re-link')
  const log = await sim.client.deviceConnections(phone, 1)
  t.equal(log.maxOpen, 1, 'never two connections of the device')

  // Logout from the phone.
  await sim.client.logoutDevice(phone, 1)
  await events.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.status === 'logged_out')
  t.equal((await prisma.session.findUniqueOrThrow({ where: { id: sessionId } })).state, 'logged_out')
  t.equal(await prisma.authKey.count({ where: { sessionId } }), 0, 'auth state wiped')
  t.equal(await prisma.authCreds.count({ where: { sessionId } }), 0)
})
