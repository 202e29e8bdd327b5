import { randomUUID } from 'node:crypto'
import t from 'tap'
import pkg from '../../../package.json' with { type: 'json' }
import { execFileSync } from 'node:child_process'
import { Queue } from 'bullmq'
import { redisKeys } from '@wss/shared'
import { WEBHOOK_QUEUE } from '@wss/webhooks'
import { auth, build, createPublisher, expireWorker, registerWorker, sessionName, setOwner, testDatabase } from '../../helper.ts'

const db = await testDatabase(t)
const { prisma } = db
const redis = await createPublisher(t)
const NONE = { waiting: 0, active: 0, delayed: 0, failed: 0 }

t.test('GET /api/health: degraded without a worker, with empty stats', async t => {
  const app = await build(t, { db })
  const res = await app.inject({ method: 'GET', url: '/api/health', headers: auth })
  t.equal(res.statusCode, 200)
  const data = res.json().data
  t.equal(data.status, 'degraded')
  t.equal(data.version, pkg.version)
  t.type(data.uptime, 'number')
  t.same(data.checks, { database: { status: 'ok' }, redis: { status: 'ok' }, workers: { status: 'down', alive: 0 } })
  t.same(data.stats, {
    sessions: { total: 0, connected: 0 },
    statuses: { last24h: 0 },
    viewers: { total: 0 },
    uploads: { count: 0, bytes: 0 },
    queues: { waiting: 0, active: 0, delayed: 0, failed: 0, scheduledStatuses: NONE, webhooks: NONE }
  })
  t.same(data.storage, [])
  t.same(data.workers, [])
  // This test runs from a git checkout: the revision is its HEAD.
  t.equal(data.revision, execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim())
})

t.test('GET /api/health: the revision set at build time (GIT_REVISION) wins', async t => {
  const app = await build(t, { db, env: { GIT_REVISION: 'v1.2.3-abc1234' } })
  t.equal((await app.inject({ method: 'GET', url: '/api/health', headers: auth })).json().data.revision, 'v1.2.3-abc1234')
})

t.test('GET /api/health: ok with a live worker; stats, queue counts and per-session storage from the database', async t => {
  const app = await build(t, { db, env: { COMMAND_TIMEOUT_MS: '100' } })
  const prefix = app.config.REDIS_PREFIX
  const busy = sessionName('busy')
  const idle = sessionName('idle')
  await prisma.session.create({ data: { id: busy, name: 'B', authMethod: 'pairing', phoneNumber: '4915123456789', state: 'connected' } })
  await prisma.session.create({ data: { id: idle, name: 'I', authMethod: 'qrcode', state: 'connected' } })
  await prisma.authCreds.create({ data: { sessionId: busy, creds: { noiseKey: 'x'.repeat(200) } } })
  for (let i = 0; i < 5; i++) {
    await prisma.authKey.create({ data: { sessionId: busy, type: 'pre-key', id: String(i), value: { key: 'k'.repeat(100) } } })
  }
  const statusId = randomUUID()
  await prisma.status.create({ data: { id: statusId, sessionId: busy, type: 'text', content: 'hello', state: 'sent', sentAt: new Date() } })
  await prisma.status.create({ data: { id: randomUUID(), sessionId: busy, type: 'text', content: 'old', createdAt: new Date(Date.now() - 3 * 86400_000) } })
  await prisma.statusViewer.create({ data: { statusId, sessionId: busy, viewerNumber: '4915100000001', viewedAt: new Date() } })
  await prisma.upload.create({ data: { id: '1730000000-abcd.jpg', kind: 'image', mimeType: 'image/jpeg', size: 3, sha256: 'x', data: new Uint8Array([1, 2, 3]) } })
  await registerWorker(redis, prefix, 'w1')
  await registerWorker(redis, prefix, 'w2')
  await setOwner(redis, prefix, busy, 'w1')
  await redis.sadd(redisKeys(prefix).owned('w1'), busy, idle)
  // A dead worker's sessions are not reported: it is not listed.
  await registerWorker(redis, prefix, 'w-dead')
  await redis.sadd(redisKeys(prefix).owned('w-dead'), 'x')
  await expireWorker(redis, prefix, 'w-dead')
  // The idle session's row says connected, but nobody holds its lease.

  // One command left in the worker's queue (nothing consumes it).
  t.equal((await app.inject({ method: 'POST', url: `/api/sessions/${busy}/restart`, headers: auth })).statusCode, 504)

  const data = (await app.inject({ method: 'GET', url: '/api/health', headers: auth })).json().data
  t.equal(data.status, 'ok')
  t.same(data.checks.workers, { status: 'ok', alive: 2 })
  t.same(data.workers, [{ id: 'w1', sessions: 2 }, { id: 'w2', sessions: 0 }], 'each live worker with the sessions it owns')
  t.same(data.stats.sessions, { total: 2, connected: 1 }, 'connected counts only live leases')
  t.same(data.stats.statuses, { last24h: 1 })
  t.same(data.stats.viewers, { total: 1 })
  t.same(data.stats.uploads, { count: 1, bytes: 3 })
  t.equal(data.stats.queues.waiting, 1)
  t.same(data.stats.queues.scheduledStatuses, NONE)
  t.same(data.stats.queues.webhooks, NONE)

  // A status scheduled for later waits on the scheduled-statuses queue; a delivery waits on webhooks.
  const later = new Date(Date.now() + 3_600_000).toISOString()
  const scheduled = await app.inject({ method: 'POST', url: `/api/sessions/${busy}/send-status`, headers: auth, payload: { type: 'text', content: 'later', targetNumbers: '4915100000002', scheduledAt: later } })
  t.equal(scheduled.statusCode, 202, scheduled.body)
  const webhooks = new Queue(WEBHOOK_QUEUE, { connection: redis, prefix: redisKeys(prefix).bull })
  t.teardown(() => webhooks.close())
  await webhooks.add('deliver', { deliveryId: randomUUID() })
  const queues = (await app.inject({ method: 'GET', url: '/api/health', headers: auth })).json().data.stats.queues
  t.same(queues.scheduledStatuses, { ...NONE, delayed: 1 }, 'the scheduled status, delayed until its time')
  t.same(queues.webhooks, { ...NONE, waiting: 1 }, 'the delivery waiting')
  t.equal(queues.waiting, 1, 'the command queues apart')

  const storage = new Map<string, { authBytes: number, statusBytes: number, viewerBytes: number, totalBytes: number }>(
    data.storage.map((s: { sessionId: string }) => [s.sessionId, s]))
  const b = storage.get(busy)!
  t.ok(b.authBytes > 5 * 100, 'auth bytes cover the creds and every key')
  t.ok(b.statusBytes > 0)
  t.ok(b.viewerBytes > 0)
  t.equal(b.totalBytes, b.authBytes + b.statusBytes + b.viewerBytes)
  t.same(storage.get(idle), { sessionId: idle, authBytes: 0, statusBytes: 0, viewerBytes: 0, totalBytes: 0 })

  // The figures are the database's own.
  const [{ bytes }] = await prisma.$queryRaw<Array<{ bytes: bigint }>>`SELECT SUM(pg_column_size(t.*))::bigint AS bytes FROM auth_keys t WHERE session_id = ${busy}`
  const [{ creds }] = await prisma.$queryRaw<Array<{ creds: bigint }>>`SELECT SUM(pg_column_size(t.*))::bigint AS creds FROM auth_creds t WHERE session_id = ${busy}`
  t.equal(b.authBytes, Number(bytes) + Number(creds))
})

t.test('GET /api/health: degraded, with the database parts null, when the database is down', async t => {
  const app = await build(t, { db, checkDatabase: async () => { throw new Error('down') } })
  await registerWorker(redis, app.config.REDIS_PREFIX, 'w1')
  const data = (await app.inject({ method: 'GET', url: '/api/health', headers: auth })).json().data
  t.equal(data.status, 'degraded')
  t.same(data.checks.database, { status: 'down' })
  t.equal(data.stats.sessions, null)
  t.equal(data.storage, null)
  t.same(data.stats.queues, { waiting: 0, active: 0, delayed: 0, failed: 0, scheduledStatuses: NONE, webhooks: NONE }, 'Redis parts still answer')
})
