// A fired scheduled status within its grace is never failed because the database could not say so
// for a moment: the send's refusal (session not connected) meets a database that cannot read the
// row, the job is retried by BullMQ, and once the row reads again it waits in its grace, pending.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { Queue } from 'bullmq'
import { redisKeys, sendStatusJobId, workerQueueName } from '@wss/shared'
import { exitWhenDone } from '@wss/wa-sim/testing'
import { guardConsole } from '../../src/console-guard.ts'
import { createLogger } from '../../src/logger.ts'
import { eventually, redisClient, startWorkerStack } from '../helpers.ts'

exitWhenDone(t)
guardConsole(createLogger('silent'))

t.test('a database blip while a fired status waits for its session does not fail it', async t => {
  const ctx = await startWorkerStack(t)
  const sessionId = `s-${randomUUID().slice(0, 8)}`
  await ctx.prisma.session.create({ data: { id: sessionId, name: 'Away', authMethod: 'pairing', phoneNumber: '15552090000', state: 'disconnected' } })
  const statusId = randomUUID()
  await ctx.prisma.status.create({ data: { id: statusId, sessionId, type: 'text', content: 'soon', state: 'pending', scheduledAt: new Date(Date.now() - 1000) } })
  const queue = new Queue(workerQueueName(ctx.manager.workerId), { connection: await redisClient(t), prefix: redisKeys(ctx.config.REDIS_PREFIX).bull })
  t.teardown(() => queue.close())

  // The statuses cannot be read for a few seconds (the sessions can: the send is refused as not connected).
  await ctx.prisma.$executeRawUnsafe('ALTER TABLE statuses RENAME TO statuses_away')
  void ctx.bus.send('send-status', { sessionId, statusId }, 60_000, { jobId: sendStatusJobId(statusId) }).catch(() => undefined)
  t.ok(await eventually(async () => ((await queue.getJob(sendStatusJobId(statusId)))?.attemptsMade ?? 0) >= 1, 20_000), 'the send was tried and retried')
  await ctx.prisma.$executeRawUnsafe('ALTER TABLE statuses_away RENAME TO statuses')

  t.ok(await eventually(async () => (await queue.getJob(sendStatusJobId(statusId)))?.isDelayed() ?? false, 30_000), 'the send waits in its grace')
  // A give-up retried in the background (the old behaviour) would land within a few seconds.
  await new Promise(resolve => setTimeout(resolve, 8000))
  t.equal((await ctx.prisma.status.findUniqueOrThrow({ where: { id: statusId } })).state, 'pending', 'still pending, in its grace')
  t.notOk(ctx.events.seen.some(e => e.event === 'status-failed' && e.data.id === statusId), 'never failed')
})
