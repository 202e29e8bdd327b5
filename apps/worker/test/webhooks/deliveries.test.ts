import { randomUUID } from 'node:crypto'
import t from 'tap'
import pino from 'pino'
import { Webhook } from 'standardwebhooks'
import { Redis } from 'ioredis'
import type { PrismaClient } from '@wss/db'
import { newWebhookSecret } from '@wss/webhooks'
import { loadConfig } from '../../src/config.ts'
import { createWorkerWebhooks } from '../../src/webhooks/worker-webhooks.ts'
import { registry } from '../../src/lib/metrics.ts'
import { createMaintenance } from '../../src/maintenance/maintenance.ts'
import { createOwnerRegistry } from '@wss/shared'
import { eventCollector, eventually, migratedPrisma, redisUrl, uniquePrefix } from '../helpers.ts'
import { startReceiver } from '@wss/webhooks/testing'

const { prisma } = await migratedPrisma(t)
// Each test starts without endpoints: one left by another (its receiver gone) would fail, be disabled, and announce it.
t.beforeEach(async () => { await prisma.webhookEndpoint.deleteMany() })

interface Options { env?: Record<string, string>, prefix?: string }

/** A worker process's webhook parts (fan-out and delivery) on a fresh prefix, started. */
async function webhooks (t: { teardown (fn: () => unknown): void }, opts: Options = {}) {
  const prefix = opts.prefix ?? uniquePrefix()
  const config = loadConfig({ REDIS_URL: redisUrl, REDIS_PREFIX: prefix, WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_SCHEDULE_MS: '200,200,200', ...opts.env })
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null })
  const parts = await createWorkerWebhooks({ config, prisma, redis, log: pino({ level: 'silent' }) })
  parts.start()
  t.teardown(async () => { await parts.stopDelivering(); await parts.close(); redis.disconnect() })
  return { ...parts, prefix }
}

async function endpoint (db: PrismaClient, url: string, fields: { events?: string[], sessionIds?: string[] } = {}) {
  return await db.webhookEndpoint.create({ data: { id: randomUUID(), url, secret: newWebhookSecret(), ...fields } })
}

const delivered = (id: string) => eventually(async () => (await prisma.webhookDelivery.findMany({ where: { endpointId: id, state: { not: 'pending' } } })).length > 0, 20_000)

t.test('an event reaches the receiver signed per Standard Webhooks, its data the event payload', async t => {
  const receiver = await startReceiver(t)
  const hook = await endpoint(prisma, receiver.url)
  const other = await endpoint(prisma, receiver.url, { events: ['status-deleted'] })
  const parts = await webhooks(t)
  const payload = { sessionId: 's1', statusId: randomUUID(), viewers: [{ viewerNumber: '4915112345678', viewedAt: new Date().toISOString() }] }
  t.equal(await parts.fanout.publish('status-viewers-update', payload), 1, 'one endpoint wants it')
  t.ok(await delivered(hook.id))
  t.equal(receiver.received.length, 1)
  const [got] = receiver.received
  const verified = new Webhook(hook.secret).verify(got!.body, got!.headers as Record<string, string>) as { type: string, timestamp: string, data: unknown }
  t.equal(verified.type, 'status-viewers-update')
  t.same(verified.data, payload)
  t.match(got!.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=*$/)
  t.throws(() => new Webhook(newWebhookSecret()).verify(got!.body, got!.headers as Record<string, string>), 'another secret does not verify it')
  const row = await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: hook.id } })
  t.equal(got!.id, row.id, 'webhook-id is the delivery id')
  t.match(row, { state: 'delivered', attempts: 1, lastStatusCode: 204, lastError: null, nextAttemptAt: null })
  t.equal(await prisma.webhookDelivery.count({ where: { endpointId: other.id } }), 0)
})

t.test('fails three times (500, no answer in time, 503), then 200: one request per attempt, one webhook-id, every one verifiable, finally delivered', async t => {
  const answers = [{ status: 500, body: 'busy' }, 'hang', { status: 503, body: 'later' }] as const
  const receiver = await startReceiver(t, (_r, n) => answers[n - 1] ?? { status: 200, body: 'ok' })
  const hook = await endpoint(prisma, receiver.url)
  const parts = await webhooks(t, { env: { WEBHOOK_TIMEOUT_MS: '300' } })
  await parts.fanout.publish('statuses-updated', { sessionId: 's1' })
  t.ok(await delivered(hook.id))
  t.same(receiver.received.map(r => r.attempt), [1, 2, 3, 4], 'four attempts, each once')
  t.equal(new Set(receiver.received.map(r => r.id)).size, 1, 'one webhook-id for all of them')
  for (const r of receiver.received) {
    t.match(new Webhook(hook.secret).verify(r.body, r.headers as Record<string, string>), { type: 'statuses-updated', data: { sessionId: 's1' } }, `attempt ${r.attempt} verifies`)
  }
  const row = await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: hook.id } })
  t.match(row, { state: 'delivered', attempts: 4, lastStatusCode: 200, lastResponse: 'ok' })
  t.equal((await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: hook.id } })).failingSince, null, 'a success ends the failing run')
})

t.test('a redirect is not followed: it is a failed attempt', async t => {
  const elsewhere = await startReceiver(t)
  const receiver = await startReceiver(t, () => ({ status: 307, body: 'moved', location: elsewhere.url }))
  const hook = await endpoint(prisma, receiver.url)
  const parts = await webhooks(t, { env: { WEBHOOK_RETRY_SCHEDULE_MS: '100' } })
  await parts.fanout.publish('statuses-updated', { sessionId: 's1' })
  t.ok(await delivered(hook.id))
  t.match(await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: hook.id } }), { state: 'failed', attempts: 2, lastStatusCode: 307, lastError: 'the endpoint answered HTTP 307', lastResponse: 'moved' })
  t.equal(elsewhere.received.length, 0)
  const counted = await registry.getSingleMetricAsString('wss_webhook_deliveries_total')
  t.match(counted, /outcome="retry"\} [1-9]/, 'attempts are counted by outcome')
  t.match(counted, /outcome="failed"\} [1-9]/)
})

t.test('410 Gone disables the endpoint and says so on the events channel', async t => {
  const receiver = await startReceiver(t, () => ({ status: 410 }))
  const hook = await endpoint(prisma, receiver.url)
  const parts = await webhooks(t)
  const { seen } = await eventCollector(t, parts.prefix)
  await parts.fanout.publish('statuses-updated', { sessionId: 's1' })
  t.ok(await delivered(hook.id))
  t.match(await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: hook.id } }), { enabled: false, disabledReason: 'gone' })
  t.match(await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: hook.id } }), { state: 'failed', attempts: 1, lastStatusCode: 410 })
  t.ok(await eventually(() => seen.some(e => e.event === 'webhook-disabled' && e.data.webhookId === hook.id && e.data.reason === 'gone')))
  t.equal(receiver.received.length, 1, 'never retried')
})

t.test('an endpoint failing for the whole window is disabled, with webhook-disabled', async t => {
  const receiver = await startReceiver(t, () => ({ status: 503 }))
  const hook = await endpoint(prisma, receiver.url)
  const parts = await webhooks(t, { env: { WEBHOOK_RETRY_SCHEDULE_MS: '400,400,400,400,400,400,400,400,400,400', WEBHOOK_DISABLE_AFTER_MS: '1000' } })
  const { seen } = await eventCollector(t, parts.prefix)
  await parts.fanout.publish('statuses-updated', { sessionId: 's1' })
  t.ok(await eventually(async () => !(await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: hook.id } })).enabled, 20_000))
  t.match(await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: hook.id } }), { disabledReason: 'failing' })
  t.ok(await eventually(() => seen.some(e => e.event === 'webhook-disabled' && e.data.webhookId === hook.id && e.data.reason === 'failing')))
  const row = await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: hook.id } })
  t.equal(row.state, 'failed')
  t.ok(row.attempts >= 2 && row.attempts < 10, `stopped before the schedule ran out (${row.attempts} attempts)`)
  await parts.fanout.publish('statuses-updated', { sessionId: 's1' })
  t.equal(await prisma.webhookDelivery.count({ where: { endpointId: hook.id } }), 1, 'a disabled endpoint gets no new deliveries')
})

t.test('a refused connection is retried, then the delivery fails with the reason once the schedule is done', async t => {
  const closed = await startReceiver(t)
  const url = closed.url.replace(`:${closed.port}`, ':9')
  const hook = await endpoint(prisma, url)
  const parts = await webhooks(t, { env: { WEBHOOK_RETRY_SCHEDULE_MS: '100,100' } })
  await parts.fanout.publish('statuses-updated', { sessionId: 's1' })
  t.ok(await delivered(hook.id))
  t.match(await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: hook.id } }), { state: 'failed', attempts: 3, lastError: /ECONNREFUSED/, lastStatusCode: null, nextAttemptAt: null })
})

t.test('a name that resolves to a private address is refused at delivery, with a clear lastError', async t => {
  const receiver = await startReceiver(t)
  // As if its DNS had changed since it was created: localhost resolves to loopback.
  const hook = await endpoint(prisma, `http://localhost:${receiver.port}/hooks`)
  const parts = await webhooks(t, { env: { WEBHOOK_ALLOW_PRIVATE: 'false' } })
  await parts.fanout.publish('statuses-updated', { sessionId: 's1' })
  t.ok(await delivered(hook.id))
  t.match(await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: hook.id } }), { state: 'failed', attempts: 1, lastError: 'the URL points to a private, loopback or link-local address' })
  t.equal(receiver.received.length, 0, 'nothing was sent')
})

t.test('a rotated secret signs the next deliveries; the old one no longer verifies them', async t => {
  const receiver = await startReceiver(t)
  const hook = await endpoint(prisma, receiver.url)
  const parts = await webhooks(t)
  const rotated = newWebhookSecret()
  await prisma.webhookEndpoint.update({ where: { id: hook.id }, data: { secret: rotated } })
  await parts.fanout.publish('statuses-updated', { sessionId: 's1' })
  t.ok(await delivered(hook.id))
  const [got] = receiver.received
  t.ok(new Webhook(rotated).verify(got!.body, got!.headers as Record<string, string>))
  t.throws(() => new Webhook(hook.secret).verify(got!.body, got!.headers as Record<string, string>))
})

t.test('an attempt claimed by a worker that died is not sent again: the next attempt follows', async t => {
  const receiver = await startReceiver(t)
  const hook = await endpoint(prisma, receiver.url)
  // What a worker killed between its claim and the answer leaves: attempt 1 claimed, the job run again.
  const id = randomUUID()
  await prisma.webhookDelivery.create({ data: { id, endpointId: hook.id, event: 'statuses-updated', payload: { sessionId: 's1' }, attempts: 1 } })
  const parts = await webhooks(t)
  await parts.fanout.enqueue([{ deliveryId: id, base: 0, jobId: id }], 'statuses-updated')
  t.ok(await delivered(hook.id))
  t.same(receiver.received.map(r => r.attempt), [2], 'attempt 1 never went out from this worker')
  t.match(await prisma.webhookDelivery.findUniqueOrThrow({ where: { id } }), { state: 'delivered', attempts: 2 })
})

t.test('a delivery waiting for its retry survives its worker: another one sends the next attempt', async t => {
  const receiver = await startReceiver(t, (_r, n) => n === 1 ? { status: 500 } : { status: 200 })
  const hook = await endpoint(prisma, receiver.url)
  const prefix = uniquePrefix()
  const env = { WEBHOOK_RETRY_SCHEDULE_MS: '3000' }
  const first = await webhooks(t, { prefix, env })
  await first.fanout.publish('statuses-updated', { sessionId: 's1' })
  t.ok(await eventually(async () => (await prisma.webhookDelivery.findFirst({ where: { endpointId: hook.id, nextAttemptAt: { not: null } } })) !== null))
  await first.stopDelivering()
  await first.close()
  await webhooks(t, { prefix, env })
  t.ok(await delivered(hook.id))
  t.same(receiver.received.map(r => r.attempt), [1, 2], 'each attempt once')
  const row = await prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: hook.id } })
  t.match(row, { state: 'delivered', attempts: 2 })
  const second = receiver.received[1]!
  t.equal(second.id, row.id, 'the same webhook-id')
  t.match(new Webhook(hook.secret).verify(second.body, second.headers as Record<string, string>), { type: 'statuses-updated', data: { sessionId: 's1' } }, 'the new worker signs it as the first did')
})

t.test('a pending delivery whose job was lost is queued again by maintenance', async t => {
  const receiver = await startReceiver(t)
  const hook = await endpoint(prisma, receiver.url)
  // A row without a job: its process died between the insert and the enqueue, and an hour went by.
  const id = randomUUID()
  await prisma.webhookDelivery.create({ data: { id, endpointId: hook.id, event: 'statuses-updated', payload: { sessionId: 's1' }, attempts: 1, nextAttemptAt: new Date(Date.now() - 2 * 3_600_000) } })
  const parts = await webhooks(t)
  const unused = new Redis(redisUrl, { lazyConnect: true }) // maintenance.run() takes no lock
  t.teardown(() => unused.disconnect())
  const maintenance = createMaintenance({
    workerId: 'w1', prisma, registry: createOwnerRegistry(unused, parts.prefix), retentionDays: 30, analyticsRetentionDays: 400, intervalMs: 60_000, log: pino({ level: 'silent' }),
    requeueDeliveries: (deliveries, name) => parts.fanout.enqueue(deliveries, name)
  })
  await maintenance.run()
  t.ok(await delivered(hook.id))
  t.same(receiver.received.map(r => r.attempt), [2], 'the next attempt, once')
  t.match(await prisma.webhookDelivery.findUniqueOrThrow({ where: { id } }), { state: 'delivered', attempts: 2 })
})
