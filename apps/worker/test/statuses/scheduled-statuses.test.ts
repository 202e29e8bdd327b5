// Scheduled statuses on the worker side: a firing moves the row scheduled → pending once, whatever
// the number of jobs firing for it, and queues one send to the session's owner; a session not
// connected is waited for within the grace, then the status fails; lost jobs are queued again.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import pino from 'pino'
import { Queue, Worker } from 'bullmq'
import {
  renewWorkerLease,
  SCHEDULE_JOB_OPTIONS, SCHEDULE_QUEUE, createOwnerRegistry, encodeOwner, redisKeys, scheduledJobId, workerQueueName, type ScheduledStatusJob
} from '@wss/shared'
import { createEventPublisher } from '../../src/events.ts'
import { createQueueProducers } from '../../src/lib/queues.ts'
import { createScheduledStatuses } from '../../src/statuses/scheduled-statuses.ts'
import { eventCollector, eventually, migratedPrisma, redisClient, uniquePrefix } from '../helpers.ts'

const { prisma } = await migratedPrisma(t)
const MINUTE = 60_000
const log = pino({ level: 'silent' })

type Later = (at: number) => Promise<never>
class Delayed extends Error { constructor (readonly at: number) { super('delayed') } }
const later: Later = async at => { throw new Delayed(at) }

async function setup (t: Parameters<typeof migratedPrisma>[0], state: 'connected' | 'disconnected' = 'connected', graceMs = 60 * MINUTE) {
  const prefix = uniquePrefix()
  const keys = redisKeys(prefix)
  const redis = await redisClient(t)
  const bullRedis = await redisClient(t)
  const sessionId = `s-${randomUUID().slice(0, 8)}`
  await prisma.session.create({ data: { id: sessionId, name: 'S', authMethod: 'pairing', phoneNumber: '4915100000000', state } })
  // The session's owner: a live worker whose command queue nothing consumes, so what was sent stays visible.
  await renewWorkerLease(redis, prefix, 'owner', 60_000, { load: 1 })
  await redis.set(keys.owner(sessionId), encodeOwner('owner', 1n))
  const queues = createQueueProducers(bullRedis, keys.bull)
  const events = createEventPublisher(redis, prefix, log)
  const scheduled = createScheduledStatuses({
    connection: bullRedis, bullPrefix: keys.bull, prisma, registry: createOwnerRegistry(redis, prefix), queues, events, graceMs, retryMs: 100, log
  })
  const commands = new Queue(workerQueueName('owner'), { connection: bullRedis, prefix: keys.bull })
  const schedule = new Queue(SCHEDULE_QUEUE, { connection: bullRedis, prefix: keys.bull })
  t.teardown(async () => {
    await scheduled.close()
    await Promise.all([commands.close(), schedule.close(), queues.close()])
  })
  const collector = await eventCollector(t, prefix)
  async function status (scheduledAt: Date) {
    const id = randomUUID()
    await prisma.status.create({ data: { id, sessionId, type: 'text', content: 'due', state: 'scheduled', scheduledAt } })
    return { sessionId, statusId: id, version: 0 } satisfies ScheduledStatusJob
  }
  const sends = async () => (await commands.getJobs(['waiting', 'delayed', 'active', 'completed'])).map(j => j.id)
  // The owner taking its sends: every send command it runs, in order (a send that ran twice shows twice).
  const ran: string[] = []
  const runSends = () => {
    const owner = new Worker(workerQueueName('owner'), async job => { ran.push(String(job.data.payload.statusId)) }, { connection: bullRedis, prefix: keys.bull })
    t.teardown(() => owner.close())
  }
  return { prefix, redis, sessionId, scheduled, schedule, commands, collector, status, sends, ran, runSends }
}

t.test('a due status fires once however many jobs fire for it; the send goes to the owner under the send job id', async t => {
  const { scheduled, status, sends } = await setup(t)
  const job = await status(new Date(Date.now() - 10))
  const outcomes = await Promise.all(Array.from({ length: 8 }, () => scheduled.fire(job, later)))
  t.equal(outcomes.filter(o => o === 'routed').length, 1, 'one firing moved it to pending')
  t.same(await sends(), [`send-status-${job.statusId}`], 'one send queued to the owner')
  t.equal((await prisma.status.findUniqueOrThrow({ where: { id: job.statusId } })).state, 'pending')

  // A job replayed later (a Redis restart with its data, a stalled job run again) while the send is
  // pending: the send is queued again under its id, which BullMQ ignores while the first waits.
  t.equal(await scheduled.fire(job, later), 'rerouted')
  t.same(await sends(), [`send-status-${job.statusId}`])
  // Once sent, a replay does nothing.
  await prisma.status.update({ where: { id: job.statusId }, data: { state: 'sent', sentAt: new Date() } })
  t.equal(await scheduled.fire(job, later), 'done')
  t.same(await sends(), [`send-status-${job.statusId}`])
})

t.test('a stale version, a cancelled status or an early job sends nothing', async t => {
  const { scheduled, status, sends } = await setup(t)
  const moved = await status(new Date(Date.now() - 10))
  await prisma.status.update({ where: { id: moved.statusId }, data: { scheduleVersion: 1 } })
  t.equal(await scheduled.fire(moved, later), 'stale', 'the job of an edit that changed the time since')

  const cancelled = await status(new Date(Date.now() - 10))
  await prisma.status.update({ where: { id: cancelled.statusId }, data: { state: 'cancelled' } })
  t.equal(await scheduled.fire(cancelled, later), 'done')

  const due = new Date(Date.now() + 10 * MINUTE)
  const early = await status(due)
  const waits = await scheduled.fire(early, later).catch((e: unknown) => e)
  t.equal(waits instanceof Delayed ? waits.at : null, due.getTime(), 'an early job waits until the row\'s time')
  t.same(await sends(), [])
  t.equal((await prisma.status.findUniqueOrThrow({ where: { id: early.statusId } })).state, 'scheduled')
})

t.test('through the queue: the same job added twice (API and sweep) fires once, at its time', async t => {
  const { scheduled, schedule, status, ran, runSends } = await setup(t)
  runSends()
  const job = await status(new Date(Date.now() + 300))
  for (let i = 0; i < 2; i++) await schedule.add('fire', job, { ...SCHEDULE_JOB_OPTIONS, jobId: scheduledJobId(job.statusId, 0), delay: 300 })
  scheduled.start()
  t.ok(await eventually(async () => ran.length > 0, 20_000), 'the owner ran the send')
  t.equal((await prisma.status.findUniqueOrThrow({ where: { id: job.statusId } })).state, 'pending')
  await new Promise(resolve => setTimeout(resolve, 1500))
  t.same(ran, [job.statusId], 'the owner ran one send')
})

t.test('a fired status past its grace fails at its firing even with a live owner; one handed to WhatsApp is never fired again', async t => {
  const { scheduled, schedule, status, sends, ran, runSends } = await setup(t, 'connected', MINUTE)
  runSends()
  // Redis lost its send; the workers are back after the grace.
  const lost = await status(new Date(Date.now() - 2 * MINUTE))
  await prisma.status.update({ where: { id: lost.statusId }, data: { state: 'pending' } })
  t.equal(await scheduled.fire(lost, later), 'expired')
  t.match(await prisma.status.findUniqueOrThrow({ where: { id: lost.statusId } }), { state: 'failed', error: /SCHEDULE_GRACE_MINUTES/ })

  // Its send took its message id (WhatsApp has it) but its ack never came: pending, and not lost.
  const handed = await status(new Date(Date.now() - 10))
  await prisma.status.update({ where: { id: handed.statusId }, data: { state: 'pending', messageId: '3EB0HANDED' + handed.statusId.slice(0, 8) } })
  t.equal(await scheduled.fire(handed, later), 'handed')
  await scheduled.requeue()
  const ids = (await schedule.getJobs(['delayed', 'waiting', 'active', 'completed'])).map(j => j.id)
  t.notOk(ids.includes(scheduledJobId(handed.statusId, 0)), 'the sweep does not fire it again')
  // Nor, past its grace, does the sweep fail it: its outcome is WhatsApp's.
  await new Promise(resolve => setTimeout(resolve, 1500))
  t.same(await sends(), [])
  t.same(ran, [], 'nothing sent')
  t.equal((await prisma.status.findUniqueOrThrow({ where: { id: handed.statusId } })).state, 'pending')
})

t.test('a fired status whose session has no live owner is looked at less and less often', async t => {
  const { scheduled, status, redis, prefix } = await setup(t)
  await renewWorkerLease(redis, prefix, 'owner', 1, { load: 1 })
  await new Promise(resolve => setTimeout(resolve, 20))
  const job = await status(new Date(Date.now() - 10 * MINUTE))
  await prisma.status.update({ where: { id: job.statusId }, data: { state: 'pending' } })
  const err = await scheduled.fire(job, later).catch((e: unknown) => e)
  t.ok(err instanceof Delayed, 'retried later')
  t.ok((err as Delayed).at >= Date.now() + 30_000, 'ten minutes late: not before half a minute (not every retryMs)')
})

t.test('a session not connected when due is waited for within the grace, then the status fails with the reason', async t => {
  const { scheduled, status, sends, collector, redis, prefix, sessionId } = await setup(t, 'disconnected', MINUTE)
  const recent = await status(new Date(Date.now() - 1000))
  const err = await scheduled.fire(recent, later).catch((e: unknown) => e)
  t.ok(err instanceof Delayed, 'retried later')
  t.ok((err as Delayed).at <= Date.now() + 1000, 'soon, within the grace')
  t.equal((await prisma.status.findUniqueOrThrow({ where: { id: recent.statusId } })).state, 'scheduled')

  const expired = await status(new Date(Date.now() - 2 * MINUTE))
  t.equal(await scheduled.fire(expired, later), 'expired')
  const row = await prisma.status.findUniqueOrThrow({ where: { id: expired.statusId } })
  t.equal(row.state, 'failed')
  t.match(row.error, /not connected.*SCHEDULE_GRACE_MINUTES/)
  const failed = await collector.waitFor(e => e.event === 'status-failed')
  t.same(failed.data, { sessionId, id: expired.statusId, error: row.error })
  t.same(await sends(), [])

  // Connected by its row, but its owner's lease lapsed: not connected either.
  await prisma.session.update({ where: { id: sessionId }, data: { state: 'connected' } })
  await renewWorkerLease(redis, prefix, 'owner', 1, { load: 1 })
  await new Promise(resolve => setTimeout(resolve, 20))
  t.ok(await scheduled.fire(recent, later).catch((e: unknown) => e) instanceof Delayed, 'retried later')
})

t.test('the maintenance sweep queues again the jobs of scheduled statuses, once each', async t => {
  const { scheduled, schedule, status } = await setup(t)
  const a = await status(new Date(Date.now() + 10 * MINUTE))
  const b = await status(new Date(Date.now() + 20 * MINUTE))
  await prisma.status.update({ where: { id: b.statusId }, data: { scheduleVersion: 3 } })
  // Other tests' scheduled rows share the database (and come back in this test's queue too).
  t.ok(await scheduled.requeue() >= 2)
  await scheduled.requeue()
  const ids = (await schedule.getJobs(['delayed', 'waiting'])).map(j => j.id)
  const ours = ids.filter(id => id?.includes(a.statusId) === true || id?.includes(b.statusId) === true).sort()
  t.same(ours, [scheduledJobId(a.statusId, 0), scheduledJobId(b.statusId, 3)].sort(), 'one job per status, of its current version')
})

t.test('a status sent now (answered 202) whose send Redis lost gets it again from the sweep, once; one handed to WhatsApp never', async t => {
  const { scheduled, sends, sessionId } = await setup(t)
  const lost = randomUUID()
  const handed = randomUUID()
  await prisma.status.create({ data: { id: lost, sessionId, type: 'text', content: 'lost with Redis', targetNumbers: [], state: 'pending' } })
  await prisma.status.create({ data: { id: handed, sessionId, type: 'text', content: 'handed over', targetNumbers: [], state: 'pending', messageId: '3EB0HANDED' } })
  t.same(await sends(), [], 'no send job: Redis lost it')
  await scheduled.requeue()
  await scheduled.requeue()
  t.same(await sends(), [`send-status-${lost}`], 'routed again to the owner, once; the handed one not')
})

t.test('a fired status whose send Redis lost gets it again from the sweep; a send still queued is not doubled', async t => {
  const { scheduled, status, sends, commands, ran, runSends } = await setup(t)
  const job = await status(new Date(Date.now() - 10))
  t.equal(await scheduled.fire(job, later), 'routed')
  scheduled.start()
  // The sweep while the send is queued: its job id is taken, nothing is added.
  await scheduled.requeue()
  await new Promise(resolve => setTimeout(resolve, 1000))
  t.same(await sends(), [`send-status-${job.statusId}`], 'still one send')

  // Redis loses the send (flushed between the fire and the send): the row stays pending.
  await commands.remove(`send-status-${job.statusId}`)
  t.same(await sends(), [])
  t.equal((await prisma.status.findUniqueOrThrow({ where: { id: job.statusId } })).state, 'pending')
  await scheduled.requeue()
  t.ok(await eventually(async () => (await sends()).includes(`send-status-${job.statusId}`), 20_000), 'the send is queued again to the owner')
  await new Promise(resolve => setTimeout(resolve, 500))
  t.same(await sends(), [`send-status-${job.statusId}`], 'once')
  // The owner takes its sends: it runs that one send, once (the posts themselves are counted on the
  // simulator by test/e2e/scheduled-send.test.ts).
  runSends()
  t.ok(await eventually(async () => ran.length > 0, 20_000), 'the owner ran the send')
  await new Promise(resolve => setTimeout(resolve, 1500))
  t.same(ran, [job.statusId], 'once')
})

t.test('after an outage one worker queues the lost jobs again at once', async t => {
  const { scheduled, schedule, status, redis, prefix } = await setup(t)
  const job = await status(new Date(Date.now() + 10 * MINUTE))
  const has = async () => (await schedule.getJobs(['delayed', 'waiting'])).some(j => j.id === scheduledJobId(job.statusId, 0))
  t.notOk(await has(), 'its job was lost (never queued here)')
  await redis.del(redisKeys(prefix).lock('scheduled-requeue'))
  scheduled.recover('w1')
  t.ok(await eventually(has, 20_000), 'queued again')
})
