import t from 'tap'
import { randomUUID } from 'node:crypto'
import { exitWhenDone } from '@wss/wa-sim/testing'
import { createLogger } from '../../src/logger.ts'
import { guardConsole } from '../../src/console-guard.ts'
import { eventually, linkByPairingCode, startWorkerStack } from '../helpers.ts'

exitWhenDone(t)
guardConsole(createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'))

// The chaos run (bench/chaos.ts) found sends left `pending` for good: a send whose session was
// reconnecting when its job ran was refused at once, after the API had already answered 202.
t.test('a send that meets its session reconnecting goes out once it is back, or ends failed', async t => {
  const stack = await startWorkerStack(t)
  const { sim, prisma, events, bus } = stack
  const phone = '15557780000'
  const alice = '15557780001'
  for (const p of [phone, alice]) await sim.client.createAccount(p)
  const { sessionId, linked } = await linkByPairingCode(stack, phone)
  t.equal(linked, true)
  const deviceId = (await sim.client.account(phone)).devices[0]!.id
  const pending = async () => {
    const id = randomUUID()
    await prisma.status.create({ data: { id, sessionId, type: 'text', content: `status ${id}`, targetNumbers: [alice], state: 'pending' } })
    return id
  }
  const dropped = async (refuseMs: number) => {
    const since = events.seen.length
    await sim.client.refuseConnections(refuseMs)
    await sim.client.dropDevice(phone, deviceId)
    await events.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && !e.data.connected, 20_000, since)
  }

  await t.test('back within the retries: sent, once', async t => {
    await dropped(3000)
    const statusId = await pending()
    const sent = await bus.send('send-status', { sessionId, statusId }, 60_000)
    t.equal(sent.ok, true, JSON.stringify(sent))
    t.equal(sent.data.state, 'sent')
    const row = await prisma.status.findUniqueOrThrow({ where: { id: statusId } })
    t.equal(row.state, 'sent')
    const onPhones = await sim.client.status(phone, row.messageId!, 10_000)
    t.same(onPhones.recipients.filter(r => r.decrypted && r.phone === alice).length, 1, 'alice got it once')
  })

  await t.test('still away after every retry: failed (and said so), never left pending', async t => {
    await dropped(120_000)
    const statusId = await pending()
    const answer = await bus.send('send-status', { sessionId, statusId }, 90_000)
    t.equal(answer.ok, false)
    t.equal(answer.code, 'SESSION_NOT_CONNECTED')
    const row = await prisma.status.findUniqueOrThrow({ where: { id: statusId } })
    t.equal(row.state, 'failed')
    t.match(row.error, /not connected/)
    t.ok(await eventually(() => events.seen.some(e => e.event === 'status-failed' && e.data.id === statusId), 10_000), 'status-failed announced')
    await sim.client.refuseConnections(0)
  })

  await t.test('replaced (440) by another client: the send fails and does not bring the session back to fight it', async t => {
    await sim.client.refuseConnections(0)
    t.ok(await eventually(async () => (await prisma.session.findUniqueOrThrow({ where: { id: sessionId } })).state === 'connected', 30_000), 'connected again')
    const since = events.seen.length
    const replacedAt = Date.now()
    await sim.client.replaceDevice(phone, deviceId)
    await events.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && !e.data.connected, 20_000, since)
    const statusId = await pending()
    const answer = await bus.send('send-status', { sessionId, statusId }, 60_000)
    t.equal(answer.code, 'SESSION_NOT_CONNECTED')
    t.equal((await prisma.status.findUniqueOrThrow({ where: { id: statusId } })).state, 'failed', 'failed, not pending')
    await new Promise(resolve => setTimeout(resolve, 3000))
    const log = await sim.client.deviceConnections(phone, deviceId)
    t.notOk(log.entries.some(e => e.event === 'login' && e.at >= replacedAt), 'no login of the device after the 440')
  })
})
