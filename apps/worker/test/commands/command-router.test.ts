import t from 'tap'
import { randomUUID } from 'node:crypto'
import { Queue } from 'bullmq'
import { MAX_COMMAND_FORWARDS, redisKeys, workerQueueName } from '@wss/shared'
import { exitWhenDone } from '@wss/wa-sim/testing'
import { guardConsole } from '../../src/console-guard.ts'
import { createLogger } from '../../src/logger.ts'
import { redisClient, startWorkerStack } from '../helpers.ts'

exitWhenDone(t)
guardConsole(createLogger('silent'))

type Stack = Awaited<ReturnType<typeof startWorkerStack>>

/** Creates a pairing session for `phone`, links it from the simulated phone, and a contact. */
async function linked (ctx: Stack, phone: string, contact: string) {
  await ctx.sim.client.createAccount(phone)
  await ctx.sim.client.createAccount(contact)
  const sessionId = `s-${randomUUID().slice(0, 8)}`
  await ctx.prisma.session.create({ data: { id: sessionId, name: phone, authMethod: 'pairing', phoneNumber: phone, state: 'connecting' } })
  const started = await ctx.bus.send('start-session', { sessionId })
  if (!(await ctx.sim.client.enterPairingCode(phone, started.data.pairingCode)).linked) throw new Error('not linked')
  await ctx.events.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected)
  return sessionId
}

async function pendingStatus (ctx: Stack, sessionId: string, contact: string, content: string) {
  const id = randomUUID()
  await ctx.prisma.status.create({ data: { id, sessionId, type: 'text', content, targetNumbers: [contact], state: 'pending' } })
  return id
}

/** What the simulator received for a status: one record per message id, `stanzas` counting every post of it. */
async function onServer (ctx: Stack, phone: string, statusId: string) {
  const { messageId } = await ctx.prisma.status.findUniqueOrThrow({ where: { id: statusId } })
  const record = await ctx.sim.client.status(phone, messageId!, 10_000)
  return { stanzas: record.stanzas ?? 1, audience: record.audience }
}

t.test('a command that fails on a transient database error is retried by BullMQ and posts once', async t => {
  const ctx = await startWorkerStack(t)
  const [phone, contact] = ['15552010000', '15552010001']
  const sessionId = await linked(ctx, phone, contact)
  const statusId = await pendingStatus(ctx, sessionId, contact, 'after a hiccup')
  // The first UPDATE of a status fails, as a deadlock or a restarting database would make it.
  await ctx.prisma.$executeRawUnsafe('CREATE SEQUENCE status_faults')
  await ctx.prisma.$executeRawUnsafe(`CREATE FUNCTION fail_first_update() RETURNS trigger AS $$
    BEGIN IF nextval('status_faults') = 1 THEN RAISE EXCEPTION 'injected transient failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`)
  await ctx.prisma.$executeRawUnsafe('CREATE TRIGGER status_fault BEFORE UPDATE ON statuses FOR EACH ROW EXECUTE FUNCTION fail_first_update()')

  const reply = await ctx.bus.send('send-status', { sessionId, statusId })
  t.match(reply, { ok: true, data: { id: statusId, state: 'sent' } }, 'the retry answers with the sent status')
  const [{ calls }] = await ctx.prisma.$queryRawUnsafe<Array<{ calls: bigint }>>('SELECT last_value AS calls FROM status_faults')
  t.ok(calls >= 2n, 'the first attempt failed in the database, a later one went through')
  t.same(await onServer(ctx, phone, statusId), { stanzas: 1, audience: [`${phone}@s.whatsapp.net`, `${contact}@s.whatsapp.net`] }, 'posted once')
})

// The chaos run left a status `pending` for good: the write marking a refused send `failed` met a
// Postgres restart, once, and was never tried again.
t.test('a send that will not go out ends failed even when the database refuses that write for a while', async t => {
  const ctx = await startWorkerStack(t)
  const sessionId = `s-${randomUUID().slice(0, 8)}`
  // Ended (a 440 or a logout): a send is refused, never brings it back, and marks the status failed.
  await ctx.prisma.session.create({ data: { id: sessionId, name: 'ended', authMethod: 'pairing', phoneNumber: '15552030000', state: 'disconnected' } })
  const statusId = await pendingStatus(ctx, sessionId, '15552030001', 'never sent')
  // The first three writes that would mark it failed fail, as during a database restart.
  await ctx.prisma.$executeRawUnsafe('CREATE SEQUENCE give_up_faults')
  await ctx.prisma.$executeRawUnsafe(`CREATE FUNCTION refuse_give_up() RETURNS trigger AS $$
    BEGIN IF NEW.state = 'failed' AND nextval('give_up_faults') <= 3 THEN RAISE EXCEPTION 'injected outage'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`)
  await ctx.prisma.$executeRawUnsafe('CREATE TRIGGER give_up_fault BEFORE UPDATE ON statuses FOR EACH ROW EXECUTE FUNCTION refuse_give_up()')

  const reply = await ctx.bus.send('send-status', { sessionId, statusId })
  t.match(reply, { ok: false, code: 'SESSION_NOT_CONNECTED' }, 'the caller is answered at once')
  const failed = await ctx.events.waitFor(e => e.event === 'status-failed' && e.data.id === statusId, 30_000)
  t.match(failed.data, { sessionId, id: statusId, error: /not connected/ }, 'status-failed once the database took the write')
  t.match(await ctx.prisma.status.findUniqueOrThrow({ where: { id: statusId } }), { state: 'failed', error: /not connected/ }, 'not left pending')
  const [{ tries }] = await ctx.prisma.$queryRawUnsafe<Array<{ tries: bigint }>>('SELECT last_value AS tries FROM give_up_faults')
  t.equal(tries, 4n, 'three refused writes, then the one that landed')
})

t.test('forwards: a command reaches the owner through another worker, and a forward loop stops at its own limit', async t => {
  const ctx = await startWorkerStack(t)
  const [phone, contact] = ['15552020000', '15552020001']
  const sessionId = await linked(ctx, phone, contact)
  const owner = ctx.manager.workerId
  const other = await ctx.another(`w2-${randomUUID().slice(0, 6)}`)

  // A send queued on the wrong worker (an API node that routed on a stale owner) is forwarded and posted once.
  const statusId = await pendingStatus(ctx, sessionId, contact, 'via the wrong worker')
  const sent = await ctx.bus.send('send-status', { sessionId, statusId }, 30_000, { to: other.workerId })
  t.match(sent, { ok: true, data: { state: 'sent' } }, 'forwarded to the owner and sent')
  t.same((await onServer(ctx, phone, statusId)).stanzas, 1)

  // A command that was already handed on MAX times is refused instead of handed on again.
  const looping = await ctx.bus.send('send-status', { sessionId, statusId }, 30_000, { to: other.workerId, data: { forwards: MAX_COMMAND_FORWARDS } })
  t.match(looping, { ok: false, code: 'NO_WORKER' }, 'refused at the forward limit')
  // One below the limit still reaches the owner, which answers (the status is sent: no second post).
  const last = await ctx.bus.send('send-status', { sessionId, statusId }, 30_000, { to: other.workerId, data: { forwards: MAX_COMMAND_FORWARDS - 1 } })
  t.match(last, { ok: true, data: { state: 'sent' } })
  t.equal(ctx.manager.sessions.get(sessionId)?.connected, true, `still owned by ${owner}`)
  t.same((await onServer(ctx, phone, statusId)).stanzas, 1, 'still posted once')
})

t.test('a send retried under one job id across a forward and a reap never posts twice', async t => {
  const ctx = await startWorkerStack(t)
  const [phone, contact] = ['15552030000', '15552030001']
  const sessionId = await linked(ctx, phone, contact)
  const other = await ctx.another(`w2-${randomUUID().slice(0, 6)}`)
  const statusId = await pendingStatus(ctx, sessionId, contact, 'exactly once')
  const jobId = `send-status-${statusId}`

  // First attempt: queued on the non-owner, forwarded, sent.
  const first = await ctx.bus.send('send-status', { sessionId, statusId }, 30_000, { to: other.workerId, jobId })
  t.match(first, { ok: true, data: { state: 'sent' } })

  // The same send left in the queue of a worker that died (listed, its lease ended): a sweep
  // hands it to a live worker, which answers the status as sent without posting it again.
  const redis = await redisClient(t)
  const keys = redisKeys(ctx.config.REDIS_PREFIX)
  const dead = `dead-${randomUUID().slice(0, 6)}`
  await redis.zadd(keys.workers, 1, dead)
  const reaped = ctx.bus.send('send-status', { sessionId, statusId }, 30_000, { to: dead, jobId })
  t.match(await reaped, { ok: true, data: { state: 'sent' } }, 'the reaped job ran on a live worker')
  t.equal(await redis.zscore(keys.workers, dead), null, 'the dead worker was forgotten')
  const deadQueue = new Queue(workerQueueName(dead), { connection: redis, prefix: keys.bull })
  t.teardown(() => deadQueue.close())
  t.equal(await deadQueue.count(), 0, 'its queue is empty')

  t.same(await onServer(ctx, phone, statusId), { stanzas: 1, audience: [`${phone}@s.whatsapp.net`, `${contact}@s.whatsapp.net`] }, 'posted once')
})

t.test('close() called twice at once resolves both after one shutdown', async t => {
  const ctx = await startWorkerStack(t)
  const redis = await redisClient(t)
  const keys = redisKeys(ctx.config.REDIS_PREFIX)
  const manager = await ctx.another(`w2-${randomUUID().slice(0, 6)}`)
  t.ok(Number(await redis.zscore(keys.workers, manager.workerId)) > 0, 'registered')
  const first = manager.close()
  const second = manager.close()
  t.equal(first, second, 'one shutdown for both callers')
  await second
  t.equal(await redis.zscore(keys.workers, manager.workerId), null, 'the second caller resolves only once the worker left the registry')
  t.equal(await redis.hget(keys.workerInfo, manager.workerId), null)
  await manager.close()
})

t.test('maintenance runs on one worker per interval when three are up', async t => {
  const ctx = await startWorkerStack(t)
  const managers = [ctx.manager, await ctx.another(`w2-${randomUUID().slice(0, 6)}`), await ctx.another(`w3-${randomUUID().slice(0, 6)}`)]
  const sessionId = `s-${randomUUID().slice(0, 8)}`
  await ctx.prisma.session.create({ data: { id: sessionId, name: 'old', authMethod: 'pairing', phoneNumber: '15552040000', state: 'logged_out' } })
  const old = new Date(Date.now() - (ctx.config.RETENTION_DAYS + 1) * 86_400_000)
  await ctx.prisma.status.create({ data: { id: randomUUID(), sessionId, type: 'text', content: 'old', targetNumbers: [], state: 'sent', createdAt: old } })

  const ran = await Promise.all(managers.map(m => m.maintenance.tick()))
  t.equal(ran.filter(Boolean).length, 1, `exactly one of three ran it (${ran.join(', ')})`)
  t.equal(await ctx.prisma.status.count({ where: { sessionId } }), 0, 'and it deleted what outlived the retention')
  const again = await Promise.all(managers.map(m => m.maintenance.tick()))
  t.same(again, [false, false, false], 'nobody runs it again within the interval')
})
