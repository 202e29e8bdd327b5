import t from 'tap'
import { randomUUID } from 'node:crypto'
import { createOwnerRegistry } from '@wss/shared'
import { exitWhenDone } from '@wss/wa-sim/testing'
import { createLogger } from '../../src/logger.ts'
import { guardConsole } from '../../src/console-guard.ts'
import { metrics } from '../../src/lib/metrics.ts'
import { eventually, linkByPairingCode, metricValue, redisClient, startWorkerStack } from '../helpers.ts'

exitWhenDone(t)
guardConsole(createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'))

// Redis loses its data (a restart without its files, FLUSHALL) under linked sessions: their owner
// keeps them (ARCHITECTURE.md, ownership), so WhatsApp sees no new login, and a second worker's
// sweep during the grace does not move them.
t.test('a linked session outlives Redis losing its data: same socket, same owner and generation', async t => {
  const stack = await startWorkerStack(t)
  const { sim, prisma, events, bus, config } = stack
  const prefix = config.REDIS_PREFIX
  const phone = '15557790000'
  const alice = '15557790001'
  for (const p of [phone, alice]) await sim.client.createAccount(p)
  const { sessionId, linked } = await linkByPairingCode(stack, phone)
  t.equal(linked, true)
  const deviceId = (await sim.client.account(phone)).devices[0]!.id
  const logins = async () => (await sim.client.deviceConnections(phone, deviceId)).entries.filter(e => e.event === 'login').length
  const owner = stack.manager.workerId
  const generation = stack.manager.ownership.owned().get(sessionId)
  t.ok(generation, 'the first worker owns it')
  // A second worker, so a sweep could place the session elsewhere while its owner key is missing.
  await stack.another(`w2-${prefix}`)
  const admin = await redisClient(t)
  const registry = createOwnerRegistry(admin, prefix)
  const loginsBefore = await logins()
  const [reassertedBefore, fencingsBefore] = [await metricValue(metrics.reasserted), await metricValue(metrics.selfFencings)]
  const since = events.mark()

  const keys = await admin.keys(`{${prefix}*`)
  t.ok(keys.length > 0)
  await admin.del(...keys) // the registry and the queues: what Redis holds after losing its data

  t.ok(await eventually(async () => await metricValue(metrics.reasserted) > reassertedBefore, 15_000), 'the owner set its session back')
  t.same(await registry.owner(sessionId), { workerId: owner, generation, alive: true }, 'same owner, same generation')
  t.same(await registry.ownedBy(owner), [sessionId], 'its owned set restored')
  // Past the grace (2 renewal intervals + 0.5 s) and several sweeps: nothing moved.
  await new Promise(resolve => setTimeout(resolve, 3 * 2000 + 500))
  t.same(await registry.owner(sessionId), { workerId: owner, generation, alive: true }, 'still there after the grace and the sweeps')
  t.equal(await metricValue(metrics.selfFencings), fencingsBefore, 'no self-fencing')
  t.equal(await logins(), loginsBefore, 'WhatsApp saw no new login')
  t.equal((await sim.client.deviceConnections(phone, deviceId)).maxOpen, 1, 'never two connections of the device')
  t.notOk(events.seen.slice(since).some(e => e.event === 'connection-status' && e.data.sessionId === sessionId), 'no connection change announced')
  t.ok(stack.manager.sessions.get(sessionId)?.connected, 'still connected on its owner')

  // A command after the loss reaches the session on its owner.
  const statusId = randomUUID()
  await prisma.status.create({ data: { id: statusId, sessionId, type: 'text', content: 'after the flush', targetNumbers: [alice], state: 'pending' } })
  const sent = await bus.send('send-status', { sessionId, statusId })
  t.equal(sent.ok, true, JSON.stringify(sent))
  const row = await prisma.status.findUniqueOrThrow({ where: { id: statusId } })
  const onPhone = await sim.client.status(phone, row.messageId!, 10_000)
  t.equal(onPhone.recipients.filter(r => r.phone === alice && r.decrypted).length, 1, 'alice got it once')
})
