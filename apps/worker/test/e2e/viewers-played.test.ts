// A viewer who plays a voice note or a video sends a `played` receipt after (or with) its read one:
// the viewer stays one row, `played` turns on, the first view time stays, and the analytics count
// the viewer once.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { exitWhenDone } from '@wss/wa-sim/testing'
import { Prisma, rawBucketsSql } from '@wss/db'
import { createLogger } from '../../src/logger.ts'
import { guardConsole } from '../../src/console-guard.ts'
import { eventually, startWorkerStack } from '../helpers.ts'

exitWhenDone(t)
guardConsole(createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'))

t.test('a played receipt sets played without moving the first view or counting the viewer twice', async t => {
  const { sim, prisma, events, bus } = await startWorkerStack(t)
  const phone = '15557800000'
  const alice = '15557800001'
  const bob = '15557800002'
  const carol = '15557800003'
  for (const p of [phone, alice, bob, carol]) await sim.client.createAccount(p)
  const sessionId = `s-${randomUUID().slice(0, 8)}`
  await prisma.session.create({ data: { id: sessionId, name: 'Shop', authMethod: 'pairing', phoneNumber: phone, state: 'connecting' } })
  const started = await bus.send('start-session', { sessionId, reason: 'created' })
  t.equal((await sim.client.enterPairingCode(phone, started.data.pairingCode)).linked, true)
  await events.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected)

  const statusId = randomUUID()
  await prisma.status.create({ data: { id: statusId, sessionId, type: 'text', content: 'listen', targetNumbers: [alice, bob, carol], state: 'pending' } })
  const sent = await bus.send('send-status', { sessionId, statusId }, 60_000)
  t.equal(sent.ok, true, JSON.stringify(sent))
  const messageId = (await prisma.status.findUniqueOrThrow({ where: { id: statusId } })).messageId!
  await sim.client.status(phone, messageId, 10_000)
  const viewer = (number: string) => prisma.statusViewer.findUnique({ where: { statusId_viewerNumber: { statusId, viewerNumber: number } } })

  // Alice opens it first (a read receipt only) ...
  const firstView = Math.floor(Date.now() / 1000) * 1000 - 60_000
  await sim.client.viewStatus(phone, messageId, { viewers: [alice], at: firstView, played: false })
  t.ok(await eventually(async () => (await viewer(alice)) !== null, 20_000), 'alice is a viewer')
  t.match(await viewer(alice), { played: false })
  await events.waitFor(e => e.event === 'status-viewers-update' && e.data.statusId === statusId)
  // ... and plays it later (read and played receipts), in another batch.
  const updates = () => events.seen.filter(e => e.event === 'status-viewers-update' && e.data.statusId === statusId)
  const announced = updates().length
  await sim.client.viewStatus(phone, messageId, { viewers: [alice], played: true })
  t.ok(await eventually(async () => (await viewer(alice))?.played === true, 20_000), 'alice played it')
  t.equal((await viewer(alice))!.viewedAt.getTime(), firstView, 'her first view time is kept')

  // Bob reads and plays it at once: both receipts arrive together.
  await sim.client.viewStatus(phone, messageId, { viewers: [bob], played: true })
  t.ok(await eventually(async () => (await viewer(bob))?.played === true, 20_000), 'bob played it')
  await events.waitFor(e => e.event === 'status-viewers-update' && e.data.statusId === statusId && e.data.viewers.some((v: { viewerNumber: string }) => v.viewerNumber === bob))
  const viewersAnnounced = updates().flatMap(e => e.data.viewers.map((v: { viewerNumber: string }) => v.viewerNumber))
  t.same(viewersAnnounced.sort(), [alice, bob], 'each viewer announced once, a play announces no new viewer')
  t.equal(updates().length, announced + 1)

  t.equal(await prisma.statusViewer.count({ where: { statusId } }), 2, 'one row per viewer')
  const [bucket] = await prisma.$queryRaw<Array<{ views: number, unique_viewers: number }>>(rawBucketsSql('day', Prisma.sql`s.id = ${statusId}::uuid`))
  t.match(bucket, { views: 2, unique_viewers: 2 }, 'the analytics count each viewer once')

  // Carol's play is recorded before her read receipt (a raw played frame overtakes the read one
  // Baileys reports later): her view time becomes the earlier read, and she stays played.
  const playedAt = Math.floor(Date.now() / 1000) * 1000 - 10_000
  const readAt = playedAt - 30_000
  await sim.client.viewStatus(phone, messageId, { viewers: [carol], at: playedAt, played: true })
  t.ok(await eventually(async () => (await viewer(carol))?.played === true, 20_000), 'carol played it')
  await sim.client.viewStatus(phone, messageId, { viewers: [carol], at: readAt, played: false })
  t.ok(await eventually(async () => (await viewer(carol))?.viewedAt.getTime() === readAt, 20_000), 'her view time is her read, not her play')
  t.match(await viewer(carol), { played: true })
  t.equal(await prisma.statusViewer.count({ where: { statusId } }), 3, 'still one row per viewer')
})
