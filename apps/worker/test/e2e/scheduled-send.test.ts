// A scheduled status that fired (scheduled → pending, its send queued to the owner) keeps its
// grace: a send that then meets its session away is retried until scheduledAt +
// SCHEDULE_GRACE_MINUTES, not only for the send's own few retries (about 15 s); and a fired status
// whose send Redis lost is sent by the maintenance again, once, even while the lost send still runs.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { exitWhenDone } from '@wss/wa-sim/testing'
import { redisKeys, sendStatusJobId, workerQueueName } from '@wss/shared'
import { createLogger } from '../../src/logger.ts'
import { guardConsole } from '../../src/console-guard.ts'
import { eventually, linkByPairingCode, redisClient, startWorkerStack } from '../helpers.ts'

exitWhenDone(t)
guardConsole(createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'))

const MINUTE = 60_000

t.test('a fired scheduled status and its session away', async t => {
  // Sends of a session 4 s apart: a send waits its turn long enough to lose its job meanwhile.
  const stack = await startWorkerStack(t, { SEND_MIN_INTERVAL_MS: '4000' })
  const { sim, prisma, events, bus } = stack
  const phone = '15557790000'
  const alice = '15557790001'
  for (const p of [phone, alice]) await sim.client.createAccount(p)
  const { sessionId, linked } = await linkByPairingCode(stack, phone)
  t.equal(linked, true)
  const deviceId = (await sim.client.account(phone)).devices[0]!.id
  // A status as a firing leaves it: pending, with its scheduled time.
  const fired = async (scheduledAt: Date | null) => {
    const id = randomUUID()
    await prisma.status.create({ data: { id, sessionId, type: 'text', content: `status ${id}`, targetNumbers: [alice], state: 'pending', scheduledAt } })
    return id
  }
  // Sent as a firing sends it: under the send's job id.
  const send = (statusId: string, timeoutMs: number) => bus.send('send-status', { sessionId, statusId }, timeoutMs, { jobId: sendStatusJobId(statusId) })
  const dropped = async (refuseMs: number) => {
    const since = events.seen.length
    await sim.client.refuseConnections(refuseMs)
    await sim.client.dropDevice(phone, deviceId)
    await events.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && !e.data.connected, 20_000, since)
  }
  // Posted once: one stanza under the status's message id (the simulator lists each phone once
  // however often it got the status, so its recipients alone cannot show a second post).
  const postedOnce = async (t: Test, statusId: string) => {
    const row = await prisma.status.findUniqueOrThrow({ where: { id: statusId } })
    const onPhones = await sim.client.status(phone, row.messageId!, 10_000)
    t.equal(onPhones.recipients.filter(r => r.decrypted && r.phone === alice).length, 1, 'alice got it')
    t.equal(onPhones.stanzas, 1, 'posted once')
  }

  await t.test('away for longer than the send\'s own retries, back within the grace: sent, once, never failed', async t => {
    await dropped(30_000)
    const statusId = await fired(new Date(Date.now() - 1000))
    const sent = await send(statusId, 120_000)
    t.equal(sent.ok, true, JSON.stringify(sent))
    t.equal((await prisma.status.findUniqueOrThrow({ where: { id: statusId } })).state, 'sent')
    t.notOk(events.seen.some(e => e.event === 'status-failed' && e.data.id === statusId), 'never failed on the way')
    await postedOnce(t, statusId)
  })

  await t.test('still away at the end of its grace: failed, naming the grace', async t => {
    await dropped(120_000)
    // Its grace (SCHEDULE_GRACE_MINUTES, 60) ends 8 s from now.
    const statusId = await fired(new Date(Date.now() - 60 * MINUTE + 8000))
    const answer = await send(statusId, 90_000)
    t.equal(answer.ok, false)
    t.equal(answer.code, 'SESSION_NOT_CONNECTED')
    const row = await prisma.status.findUniqueOrThrow({ where: { id: statusId } })
    t.equal(row.state, 'failed')
    t.match(row.error, /not connected between the status's scheduled time .* and the end of its grace \(SCHEDULE_GRACE_MINUTES\)/)
    t.equal(answer.message, row.error)
    const failed = await events.waitFor(e => e.event === 'status-failed' && e.data.id === statusId)
    t.equal(failed.data.error, row.error)
    await sim.client.refuseConnections(0)
  })

  await t.test('a send Redis lost while it ran: the maintenance sends it again, and it is posted once', async t => {
    t.ok(await eventually(async () => (await prisma.session.findUniqueOrThrow({ where: { id: sessionId } })).state === 'connected', 60_000), 'connected again')
    const redis = await redisClient(t)
    const first = await fired(null)
    const second = await fired(new Date(Date.now() - 1000))
    const firstSent = send(first, 60_000)
    // The second waits its turn behind the first (SEND_MIN_INTERVAL_MS): its job is running.
    const secondSent = send(second, 60_000).catch((err: unknown) => err)
    const workerId = stack.manager.workerId
    const queue = `${redisKeys(stack.config.REDIS_PREFIX).bull}:${workerQueueName(workerId)}`
    const jobId = sendStatusJobId(second)
    t.ok(await eventually(async () => (await redis.lrange(`${queue}:active`, 0, -1)).includes(jobId), 20_000), 'the second send is running')
    // Redis loses that job (its hash, its lock, its place in the active list); the send goes on.
    await redis.multi().del(`${queue}:${jobId}`, `${queue}:${jobId}:lock`).lrem(`${queue}:active`, 0, jobId).exec()
    t.equal((await prisma.status.findUniqueOrThrow({ where: { id: second } })).state, 'pending')
    await stack.manager.maintenance.run()
    t.equal((await firstSent).ok, true)
    t.ok(await eventually(async () => (await prisma.status.findUniqueOrThrow({ where: { id: second } })).state === 'sent', 30_000), 'the second is sent')
    // Any send still queued for it has run by now (the pacing is 4 s).
    await new Promise(resolve => setTimeout(resolve, 6000))
    await postedOnce(t, second)
    await postedOnce(t, first)
    void secondSent
  })
})
