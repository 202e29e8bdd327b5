import { randomUUID } from 'node:crypto'
import { tcpProxy } from '@wss/shared/testing'
import { createRedisConnection } from '@wss/shared'
import { createPrisma, dropDatabase, migrate, type PrismaClient } from '@wss/db'

interface Teardown { teardown (fn: () => unknown): void }

const serverUrl = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'
export const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A migrated fresh database and a client on it, both removed at teardown. */
export async function migratedPrisma (t: Teardown): Promise<{ prisma: PrismaClient, databaseUrl: string }> {
  const url = new URL(serverUrl)
  url.pathname = `/wss_worker_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`
  const databaseUrl = url.toString()
  t.teardown(() => dropDatabase(databaseUrl))
  await migrate(databaseUrl)
  const prisma = createPrisma(databaseUrl, { poolSize: 4 })
  t.teardown(() => prisma.$disconnect())
  return { prisma, databaseUrl }
}

/** A unique Redis key prefix for one test. */
export const uniquePrefix = () => `wss-test-${randomUUID().slice(0, 8)}`

/** An ioredis client that fails fast while Redis is unreachable, closed at teardown. */
export async function redisClient (t: Teardown, url = redisUrl) {
  const redis = createRedisConnection(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 100, lazyConnect: true })
  redis.on('error', () => undefined)
  t.teardown(() => redis.disconnect())
  await redis.connect()
  return redis
}

/**
 * A TCP proxy in front of the real Redis: `cut()` drops every connection and refuses new ones,
 * `restore()` lets them through again. It gives one worker a Redis outage the others do not see.
 */
export async function redisProxy (t: Teardown, target = new URL(redisUrl)) {
  return await tcpProxy(t, target)
}

/** Polls until the check passes or the time is up. */
export async function eventually (check: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 50) {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (await check()) return true
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  return false
}

/** Collects the events published on the deployment's channel. */
export async function eventCollector (t: Teardown, prefix: string) {
  const { eventsChannel, parseBusEvent } = await import('@wss/shared')
  const sub = await redisClient(t)
  const seen: Array<{ event: string, data: any }> = []
  await sub.subscribe(eventsChannel(prefix))
  sub.on('message', (_channel: string, message: string) => {
    const e = parseBusEvent(message)
    if (e) seen.push(e as never)
  })
  return {
    seen,
    /** The position of the next event, for waitFor(…, since). */
    mark () { return seen.length },
    async waitFor (pred: (e: { event: string, data: any }) => boolean, timeoutMs = 20_000, since = 0) {
      let found: { event: string, data: any } | undefined
      await eventually(() => { found = seen.slice(since).find(pred); return !!found }, timeoutMs)
      if (!found) throw new Error('event did not arrive in time')
      return found
    }
  }
}

/**
 * Sends commands as an API node does: into a worker's BullMQ queue, with a reply channel.
 * (The API's own command bus speaks the same protocol.)
 */
export async function commandClient (t: Teardown, prefix: string) {
  const { Queue } = await import('bullmq')
  const { COMMAND_JOB_OPTIONS, createOwnerRegistry, parseCommandReply, redisKeys, workerQueueName } = await import('@wss/shared')
  const redis = await redisClient(t)
  const sub = await redisClient(t)
  const keys = redisKeys(prefix)
  const channel = keys.replies(`test-${randomUUID().slice(0, 6)}`)
  const pending = new Map<string, (r: any) => void>()
  await sub.subscribe(channel)
  sub.on('message', (_c: string, m: string) => {
    const r = parseCommandReply(m)
    if (r) pending.get(r.requestId)?.(r)
  })
  const registry = createOwnerRegistry(redis, prefix)
  const queues = new Map<string, InstanceType<typeof Queue>>()
  t.teardown(async () => { for (const q of queues.values()) await q.close() })
  return {
    /** `to`: the worker whose queue gets the job (default: the owner, else the least loaded); `jobId`, `data`: extra job fields. */
    async send (name: string, payload: Record<string, unknown>, timeoutMs = 30_000, opts: { to?: string, jobId?: string, data?: Record<string, unknown> } = {}): Promise<any> {
      const owner = await registry.owner(String(payload.sessionId))
      const target = opts.to ?? (owner?.alive ? owner.workerId : await registry.assign())
      if (!target) throw new Error('no worker alive')
      let q = queues.get(target)
      if (!q) { q = new Queue(workerQueueName(target), { connection: redis, prefix: keys.bull }); queues.set(target, q) }
      const requestId = randomUUID()
      const reply = new Promise((resolve, reject) => {
        const timer = setTimeout(() => { pending.delete(requestId); reject(new Error(`no reply to ${name}`)) }, timeoutMs)
        pending.set(requestId, r => { clearTimeout(timer); pending.delete(requestId); resolve(r) })
      })
      await q.add(name, { name, payload, replyTo: { channel, requestId }, enqueuedAt: Date.now(), ...opts.data }, { ...COMMAND_JOB_OPTIONS, jobId: opts.jobId ?? requestId })
      return reply
    }
  }
}

/**
 * A worker (in this process) on a fresh database and Redis prefix, pointed at a new simulator,
 * with an event collector and a command client. `restart` replaces the worker by a new one.
 */
export async function startWorkerStack (t: Teardown, env: Record<string, string> = {}) {
  const { startSimulator } = await import('@wss/wa-sim')
  const { loadConfig } = await import('../src/config.ts')
  const { createLogger } = await import('../src/logger.ts')
  const { createWorkerManager } = await import('../src/sessions/worker-manager.ts')
  const sim = await startSimulator()
  t.teardown(() => sim.close())
  const { prisma, databaseUrl } = await migratedPrisma(t)
  const prefix = uniquePrefix()
  const config = loadConfig({
    DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, REDIS_PREFIX: prefix, LOG_LEVEL: 'silent',
    ...sim.settings, SEND_MIN_INTERVAL_MS: '0', SEND_JITTER_MS: '0', SWEEP_INTERVAL_MS: '500',
    RECONNECT_BASE_MS: '100', WORKER_ID: `w1-${prefix}`, ...env
  })
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent')
  const stack = {
    sim,
    prisma,
    config,
    manager: await createWorkerManager(config, logger),
    events: await eventCollector(t, prefix),
    bus: await commandClient(t, prefix),
    /** Starts one more worker (in this process) on the same database, Redis prefix and simulator. */
    async another (workerId: string, overrides: Partial<typeof config> = {}) {
      const manager = await createWorkerManager({ ...config, ...overrides, WORKER_ID: workerId }, logger)
      t.teardown(() => manager.close())
      await manager.start()
      return manager
    },
    /** Closes the worker and starts another one (a new worker id) on the same database and Redis. */
    async restart (workerId: string) {
      await stack.manager.close()
      stack.manager = await createWorkerManager({ ...config, WORKER_ID: workerId }, logger)
      await stack.manager.start()
      return stack.manager
    }
  }
  await stack.manager.start()
  t.teardown(() => stack.manager.close())
  return stack
}

/** The current value of one of a worker metric's series (0 when it has none yet). */
export async function metricValue (metric: { get (): Promise<{ values: Array<{ value: number, labels: Record<string, unknown> }> }> }, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await metric.get()
  return values.find(v => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0
}

/**
 * Creates a session row for `phone`, starts it on the worker with a pairing code and types that code
 * on the simulated phone; once linked, waits until the worker reports it connected.
 * Returns the session id and whether the phone accepted the code.
 */
export async function linkByPairingCode (stack: Awaited<ReturnType<typeof startWorkerStack>>, phone: string) {
  const sessionId = `s-${randomUUID().slice(0, 8)}`
  await stack.prisma.session.create({ data: { id: sessionId, name: 'Shop', authMethod: 'pairing', phoneNumber: phone, state: 'connecting' } })
  const started = await stack.bus.send('start-session', { sessionId, reason: 'created' })
  const linked = (await stack.sim.client.enterPairingCode(phone, started.data.pairingCode)).linked
  if (linked) await stack.events.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected)
  return { sessionId, linked }
}
