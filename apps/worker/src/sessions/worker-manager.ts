import { randomUUID } from 'node:crypto'
import { Queue, Worker, type Job } from 'bullmq'
import { Redis } from 'ioredis'
import { createPrisma, takeSessionGeneration, type PrismaClient } from '@wss/db'
import {
  AppError, CommandName, bullPrefix, createOwnerRegistry, isAppError, parseCommandJob, workerQueueName,
  type CommandJob, type LiveWorker
} from '@wss/shared'
import type { Logger } from 'pino'
import { createAuthStore, createSharedKeyCache } from '../auth/index.ts'
import { handlers, runsWithoutStart } from '../commands/handlers.ts'
import type { WorkerConfig } from '../config.ts'
import { createEventPublisher } from '../events.ts'
import { createOwnership } from '../ownership/ownership.ts'
import { createStatusService, createViewerRecorder } from '../statuses/status-service.ts'
import { createSocketFactory } from '../wa/socket-factory.ts'
import { SessionRuntime } from './session-runtime.ts'

const RUNNABLE_STATES = ['connecting', 'awaiting_pairing', 'awaiting_qr', 'connected'] as const
const MAX_HOPS = 5

/**
 * One worker process: owns its WhatsApp sessions, their commands (its BullMQ queue) and the
 * ownership lease; hands dead workers' sessions and commands over; shuts down in order.
 */
export async function createWorkerManager (config: WorkerConfig, logger: Logger) {
  const prefix = config.REDIS_PREFIX
  const workerId = config.WORKER_ID
  const log = logger.child({ workerId })
  const redisOptions = { maxRetriesPerRequest: null, enableOfflineQueue: true, retryStrategy: (n: number) => Math.min(n * 200, 2000) }
  // The lease connection fails fast: a renewal that cannot reach Redis must count as a failure.
  const leaseRedis = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 1000, commandTimeout: 1000, retryStrategy: () => 250, lazyConnect: true })
  const redis = new Redis(config.REDIS_URL, { ...redisOptions, lazyConnect: true })
  for (const r of [leaseRedis, redis]) r.on('error', err => log.debug({ err: err.message }, 'redis error'))
  await Promise.all([leaseRedis.connect(), redis.connect()])

  const prisma: PrismaClient = createPrisma(config.DATABASE_URL, { poolSize: config.DB_POOL_SIZE })
  const events = createEventPublisher(redis, prefix, log)
  const authStore = createAuthStore({ prisma, logger: log, cache: createSharedKeyCache({ max: config.KEY_CACHE_MAX }) })
  const makeSocket = createSocketFactory(config, log)
  const statuses = createStatusService({
    prisma, events, logger: log,
    fetch: { maxBytes: config.FETCH_MAX_MB * 1024 * 1024, timeoutMs: config.FETCH_TIMEOUT_MS, allowPrivate: config.FETCH_ALLOW_PRIVATE },
    config
  })
  const viewers = createViewerRecorder({ prisma, events, logger: log })
  const registry = createOwnerRegistry(redis, prefix)
  const runtimes = new Map<string, SessionRuntime>()
  const starting = new Map<string, Promise<SessionRuntime | null>>()
  const queues = new Map<string, Queue>()
  const bullConnection = { connection: redis, prefix: bullPrefix(prefix) }
  const queueOf = (id: string) => {
    let q = queues.get(id)
    if (!q) { q = new Queue(workerQueueName(id), bullConnection); queues.set(id, q) }
    return q
  }

  const ownership = createOwnership({
    redis: leaseRedis,
    prefix,
    workerId,
    info: { pid: process.pid },
    leaseTtlMs: config.LEASE_TTL_MS,
    load: () => runtimes.size,
    claimGeneration: sessionId => takeSessionGeneration(prisma, sessionId),
    onLost: (ids, reason) => {
      log.warn({ count: ids.length, reason }, 'sessions lost')
      for (const id of ids) {
        const rt = runtimes.get(id)
        runtimes.delete(id)
        void (reason === 'fenced' ? rt?.suspend() : rt?.stop())
      }
    },
    onRecovered: () => log.info('lease recovered'),
    onError: err => log.debug({ err: (err as Error).message }, 'lease renewal failed')
  })

  const onFinished = (rt: SessionRuntime, reason: string) => {
    const { sessionId } = rt
    log.info({ sessionId, reason }, 'session finished here')
    // A late report from an older runtime of the session must not touch the one running now.
    if (runtimes.get(sessionId) !== rt) return
    runtimes.delete(sessionId)
    void ownership.refresh().catch(() => undefined)
    if (reason === 'stale-generation') {
      if (ownership.owned().get(sessionId) === rt.generation) ownership.forget(sessionId)
    } else void ownership.release(sessionId).catch(() => undefined)
  }

  /** Claims and starts a session here; null when another live worker owns it or it is gone. */
  async function acquire (sessionId: string, start: boolean): Promise<SessionRuntime | null> {
    const existing = runtimes.get(sessionId)
    if (existing) return existing
    const inflight = starting.get(sessionId)
    if (inflight) return inflight
    const work = (async () => {
      const generation = await ownership.claim(sessionId)
      if (generation === null) return null
      const rt = new SessionRuntime(sessionId, generation, {
        prisma, authStore, events, makeSocket, logger: log, config, onFinished,
        onSocket: (runtime, sock) => viewers.watch(runtime, sock)
      })
      runtimes.set(sessionId, rt)
      // The load others route by is current at once, and the assignment that brought it here is settled.
      await Promise.all([ownership.refresh(), registry.settle(workerId)]).catch(() => undefined)
      let started: boolean
      try {
        started = !start || await rt.start()
      } catch (err) {
        // A half-built runtime must not stay registered: the session would be wedged here.
        runtimes.delete(sessionId)
        await rt.stop().catch(() => undefined)
        await ownership.release(sessionId).catch(() => undefined)
        throw err
      }
      if (!started) {
        runtimes.delete(sessionId)
        await ownership.release(sessionId)
        return null
      }
      return rt
    })().finally(() => starting.delete(sessionId))
    starting.set(sessionId, work)
    return work
  }

  async function deleteSession (sessionId: string, rt?: SessionRuntime) {
    await rt?.logout()
    runtimes.delete(sessionId)
    authStore.evictSession(sessionId)
    await prisma.session.deleteMany({ where: { id: sessionId } })
    await ownership.release(sessionId).catch(() => undefined)
    events.publish('session-deleted', { sessionId })
  }

  async function reply (job: CommandJob, body: { ok: true, data?: unknown } | { ok: false, code: string, message: string }) {
    if (!job.replyTo) return
    await redis.publish(job.replyTo.channel, JSON.stringify({ requestId: job.replyTo.requestId, ...body }))
  }

  /** Runs one command if this worker owns (or can claim) its session, else forwards it to the owner. */
  async function runCommand (bullJob: Job): Promise<void> {
    const parsed = parseCommandJob(bullJob.data)
    if (!parsed) { log.warn({ jobId: bullJob.id }, 'invalid command dropped'); return }
    const job: CommandJob = parsed
    const { sessionId } = job.payload
    const jlog = log.child({ sessionId, command: job.name, jobId: bullJob.id })
    try {
      let rt = runtimes.get(sessionId)
      if (!rt) {
        const exists = await prisma.session.findUnique({ where: { id: sessionId }, select: { id: true } })
        if (!exists) throw new AppError('SESSION_NOT_FOUND', `session ${sessionId} not found`)
        const owner = await registry.owner(sessionId)
        if (owner?.alive && owner.workerId !== workerId) return await forward(job, owner.workerId)
        if (job.name === CommandName.DeleteSession && !owner?.alive) {
          await deleteSession(sessionId)
          await reply(job, { ok: true, data: { deleted: true } })
          return
        }
        rt = (await acquire(sessionId, !runsWithoutStart.has(job.name))) ?? undefined
        if (!rt) {
          const now = await registry.owner(sessionId)
          if (now?.alive && now.workerId !== workerId) return await forward(job, now.workerId)
          // Claims are refused for a moment after the registry was reset: retry, do not drop.
          throw new Error('the session could not be claimed yet')
        }
      }
      const runtime = rt
      const data = await (handlers[job.name] as (ctx: Parameters<typeof handlers[typeof job.name]>[0], p: unknown) => Promise<unknown>)({
        runtime,
        statuses,
        startWaitMs: config.START_WAIT_MS,
        finish: async reason => { await runtime.stop(); onFinished(runtime, reason) },
        deleteSession: () => deleteSession(sessionId, runtime)
      }, job.payload)
      await reply(job, { ok: true, data })
    } catch (err) {
      if (isAppError(err)) {
        jlog.info({ code: err.code }, 'command refused')
        await reply(job, { ok: false, code: err.code, message: err.message })
        return
      }
      // A transient failure (database, lease hiccup): try again shortly rather than drop the command.
      if ((job.hops ?? 0) < MAX_HOPS && !closed) {
        jlog.warn({ err: (err as Error).message }, 'command failed, retrying')
        await queueOf(workerId).add(job.name, { ...job, hops: (job.hops ?? 0) + 1 }, { delay: 1000 * ((job.hops ?? 0) + 1), removeOnComplete: true, removeOnFail: 1000, ...(bullJob.id ? { jobId: `${bullJob.id}-r${(job.hops ?? 0) + 1}` } : {}) })
        return
      }
      jlog.error({ err }, 'command failed')
      await reply(job, { ok: false, code: 'INTERNAL', message: 'the worker could not run the command' })
    }
  }

  async function forward (job: CommandJob, target: string) {
    const hops = (job.hops ?? 0) + 1
    if (hops > MAX_HOPS) throw new AppError('NO_WORKER', 'the command could not reach the session owner')
    await queueOf(target).add(job.name, { ...job, hops }, { removeOnComplete: true, removeOnFail: 1000, jobId: `fwd-${hops}-${job.replyTo?.requestId ?? randomUUID()}` })
  }

  const bullWorker = new Worker(workerQueueName(workerId), runCommand, {
    ...bullConnection,
    concurrency: config.COMMAND_CONCURRENCY,
    autorun: false,
    lockDuration: 60_000,
    stalledInterval: 15_000
  })
  bullWorker.on('error', err => log.debug({ err: err.message }, 'queue error'))

  /** Hands a dead worker's queued commands to the live workers, then forgets it. */
  async function reap (deadId: string, live: LiveWorker[]) {
    if (!(await registry.lock(`reap:${deadId}`, workerId, 30_000))) return
    const q = new Queue(workerQueueName(deadId), bullConnection)
    try {
      const jobs = await q.getJobs(['wait', 'prioritized', 'delayed', 'active'])
      for (const j of jobs) {
        // The receiving worker forwards it to the session's owner if that is another worker.
        const target = live.some(w => w.id === workerId) ? workerId : (await registry.assign())
        if (target) await queueOf(target).add(j.name, j.data, { removeOnComplete: true, removeOnFail: 1000 })
      }
      await q.obliterate({ force: true })
      await registry.forgetWorker(deadId)
      log.info({ deadId, commands: jobs.length }, 'reaped a dead worker')
    } finally {
      await q.close()
    }
  }

  /**
   * Sessions the registry says this worker owns but that do not run here (it stopped them when its
   * lease lapsed, and Redis kept the records): let them go, so they are not reported connected and
   * the sweep places them again.
   */
  async function releaseStranded () {
    if (!ownership.healthy()) return
    for (const id of await registry.ownedBy(workerId)) {
      if (!runtimes.has(id) && !starting.has(id)) await ownership.release(id)
    }
  }

  /**
   * Sessions that should run but have no live owner go to the least-loaded live workers. One worker
   * sweeps at a time; the lock is released when the sweep ends (its TTL only covers a worker dying
   * mid-sweep), so some worker sweeps every SWEEP_INTERVAL_MS: held to its TTL, it made a lone
   * survivor sweep every other time, and a dead worker's sessions waited up to 2 intervals.
   */
  async function sweep () {
    if (!ownership.healthy()) return
    if (!(await registry.lock('sweep', workerId, Math.max(config.SWEEP_INTERVAL_MS * 2, 3000)))) return
    try {
      await sweepLocked()
    } finally {
      await registry.unlock('sweep', workerId).catch(() => undefined)
    }
  }

  async function sweepLocked () {
    const live = await registry.liveWorkers()
    if (!live.length) return
    for (const dead of await registry.deadWorkers()) await reap(dead, live)
    const candidates = await prisma.session.findMany({
      where: { state: { in: [...RUNNABLE_STATES] }, createdAt: { lt: new Date(Date.now() - 5000) } },
      select: { id: true }
    })
    if (!candidates.length) return
    const owners = await registry.owners(candidates.map(c => c.id))
    for (const { id } of candidates) {
      if (owners.get(id)?.alive) continue
      // One resume in flight per session, so a slow start is not assigned (and counted) twice.
      if (!(await registry.lock(`resume:${id}`, workerId, 15_000))) continue
      const target = await registry.assign()
      if (!target) break
      const job: CommandJob = { name: CommandName.StartSession, payload: { sessionId: id, reason: 'resume' }, enqueuedAt: Date.now() }
      // One pending resume per session: BullMQ ignores a second add with the same job id.
      await queueOf(target).add(job.name, job, { jobId: `resume-${id}`, removeOnComplete: true, removeOnFail: true })
    }
  }

  /** Deletes statuses (and their viewers) past the retention, and uploads that expired or no status needs. */
  async function retention () {
    const cutoff = new Date(Date.now() - config.RETENTION_DAYS * 86_400_000)
    await prisma.status.deleteMany({ where: { createdAt: { lt: cutoff } } })
    await prisma.$executeRaw`DELETE FROM uploads u WHERE (u.expires_at IS NOT NULL AND u.expires_at < now())
      OR (u.expires_at IS NULL AND NOT EXISTS (SELECT 1 FROM statuses s WHERE s.upload_id = u.id AND s.state IN ('pending', 'sent') AND (s.expires_at IS NULL OR s.expires_at > now())))`
  }

  let sweepTimer: NodeJS.Timeout | undefined
  let retentionTimer: NodeJS.Timeout | undefined
  let closed = false

  return {
    workerId,
    prisma,
    runtimes,
    ownership,
    /** Runs the retention pass now (it also runs every 10 minutes). */
    retention,

    async start () {
      await ownership.start()
      void bullWorker.run()
      // Every SWEEP_INTERVAL_MS, and sooner when a worker's liveness runs out before then: a dead
      // worker's sessions are swept as its lease lapses (renewed keys never get that close).
      const nextSweepIn = async () => {
        const lapse = await registry.nextLeaseExpiry().catch(() => undefined)
        return lapse !== undefined && lapse < config.SWEEP_INTERVAL_MS ? lapse + 25 : config.SWEEP_INTERVAL_MS
      }
      const loop = () => {
        releaseStranded().then(sweep).catch(err => log.warn({ err: (err as Error).message }, 'sweep failed'))
          .then(nextSweepIn)
          .then(delay => { if (!closed) sweepTimer = setTimeout(loop, delay) })
      }
      sweepTimer = setTimeout(loop, 200)
      retentionTimer = setInterval(() => { retention().catch(err => log.warn({ err: (err as Error).message }, 'retention failed')) }, 10 * 60_000)
      log.info('worker started')
    },

    /** Ordered shutdown: stop intake, stop sessions, flush viewers, hand sessions over, close connections. */
    async close () {
      if (closed) return
      closed = true
      clearTimeout(sweepTimer)
      clearInterval(retentionTimer)
      await bullWorker.close().catch(() => undefined)
      await Promise.all([...runtimes.values()].map(rt => rt.stop().catch(() => undefined)))
      runtimes.clear()
      await viewers.flush().catch(() => undefined)
      await ownership.stop({ release: true }).catch(() => undefined)
      for (const q of queues.values()) await q.close().catch(() => undefined)
      await prisma.$disconnect().catch(() => undefined)
      redis.disconnect()
      leaseRedis.disconnect()
      log.info('worker stopped')
    }
  }
}

export type WorkerManager = Awaited<ReturnType<typeof createWorkerManager>>
