import { randomUUID } from 'node:crypto'
import t from 'tap'
import { Redis } from 'ioredis'
import pino from 'pino'
import { Queue } from 'bullmq'
import { createPrisma, dropDatabase, migrate } from '@wss/db'
import { redisKeys } from '@wss/shared'
import { createWebhookFanout, newWebhookSecret, WEBHOOK_QUEUE } from '../src/index.ts'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const server = new URL(process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres')
server.pathname = `/wss_webhooks_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`
const databaseUrl = server.toString()
t.teardown(() => dropDatabase(databaseUrl))
await migrate(databaseUrl)
const prisma = createPrisma(databaseUrl, { poolSize: 4 })
t.teardown(() => prisma.$disconnect())

/** A process's fan-out: its own command and subscriber connections. */
async function fanout (prefix: string) {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
  const subscriber = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
  const f = createWebhookFanout({ prisma, redis, subscriber, prefix, log: pino({ level: 'silent' }) })
  await new Promise(resolve => setTimeout(resolve, 200))
  t.teardown(async () => { await f.close(); redis.disconnect(); subscriber.disconnect() })
  return f
}

t.test('an endpoint change announced by one process reaches the others before their cache expires', async t => {
  const prefix = `wh-${randomUUID().slice(0, 8)}`
  const [api, worker] = [await fanout(prefix), await fanout(prefix)]
  t.equal(await worker.publish('statuses-updated', { sessionId: 's1' }), 0, 'no endpoint yet (and the empty list is cached)')
  const hook = await prisma.webhookEndpoint.create({ data: { id: randomUUID(), url: 'https://hooks.example.com/', secret: newWebhookSecret(), sessionIds: ['s1'] } })
  await api.changed()
  let recorded = 0
  for (let i = 0; i < 50 && recorded === 0; i++) {
    await new Promise(resolve => setTimeout(resolve, 20))
    recorded = await worker.publish('statuses-updated', { sessionId: 's1' })
  }
  t.equal(recorded, 1, 'recorded once the announcement arrived')
  t.equal(await worker.publish('statuses-updated', { sessionId: 's2' }), 0, 'another session: nothing')

  const rows = await prisma.webhookDelivery.findMany({ where: { endpointId: hook.id } })
  t.equal(rows.length, 1)
  t.match(rows[0], { event: 'statuses-updated', payload: { sessionId: 's1' }, state: 'pending', attempts: 0 })
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
  const queue = new Queue(WEBHOOK_QUEUE, { connection, prefix: redisKeys(prefix).bull })
  t.teardown(async () => { await queue.close(); connection.disconnect() })
  t.same((await queue.getJob(rows[0]!.id))?.data, { deliveryId: rows[0]!.id, base: 0 }, 'and queued, one job per delivery')
})
