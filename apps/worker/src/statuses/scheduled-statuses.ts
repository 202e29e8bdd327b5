import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq'
import type { RedisClient } from '@wss/shared'
import type { Logger } from 'pino'
import type { PrismaClient } from '@wss/db'
import {
  COMMAND_JOB_OPTIONS, CommandName, SCHEDULE_JOB_OPTIONS, SCHEDULE_QUEUE, parseScheduledStatusJob, scheduledJobId, sendStatusJobId,
  type CommandJob, type OwnerRegistry, type ScheduledStatusJob
} from '@wss/shared'
import type { EventPublisher } from '../events.ts'
import type { QueueProducers } from '../lib/queues.ts'
import { graceExpiredReason, nextLookAt } from './schedule-grace.ts'

export interface ScheduledStatusesDeps {
  connection: RedisClient
  bullPrefix: string
  prisma: PrismaClient
  registry: OwnerRegistry
  queues: QueueProducers
  events: EventPublisher
  /** How long a due status waits for its session to be connected before it is failed. */
  graceMs: number
  /** Between two checks of a due status whose session is not connected. */
  retryMs?: number
  concurrency?: number
  now?: () => number
  log: Logger
}

/**
 * What one firing did (logged, and what the tests read). `handed`: a fired status whose send
 * already took its WhatsApp message id (it was posted, or at least handed to WhatsApp): never
 * posted again from here, whatever its send became.
 */
export type FireOutcome = 'gone' | 'stale' | 'done' | 'expired' | 'raced' | 'routed' | 'rerouted' | 'handed'

/** A job that reaches its time before its row's (an edit moved it, or the sweep queued it early) waits again if it is this early. */
const EARLY_MS = 50
const SWEEP_BATCH = 500

type Ctx = ScheduledStatusesDeps & { now: () => number, retryMs: number }

// The session's live owner while the session is connected; null otherwise.
async function connectedOwner (ctx: Ctx, sessionId: string): Promise<string | null> {
  const session = await ctx.prisma.session.findUnique({ where: { id: sessionId }, select: { state: true } })
  if (session?.state !== 'connected') return null
  const owner = await ctx.registry.owner(sessionId)
  return owner?.alive === true ? owner.workerId : null
}

// Routed as the API routes a send: to the owner's command queue, under the send's job id.
async function route (ctx: Ctx, target: string, sessionId: string, statusId: string): Promise<void> {
  const cmd: CommandJob = { name: CommandName.SendStatus, payload: { sessionId, statusId }, enqueuedAt: ctx.now() }
  await ctx.queues.of(target).add(cmd.name, cmd, { ...COMMAND_JOB_OPTIONS, jobId: sendStatusJobId(statusId) })
}

async function expire (ctx: Ctx, data: ScheduledStatusJob, scheduledAt: Date, from: 'scheduled' | 'pending' = 'scheduled'): Promise<FireOutcome> {
  const error = graceExpiredReason(scheduledAt)
  // Never a status its send already handed to WhatsApp (it took its message id first).
  const { count } = await ctx.prisma.status.updateMany({
    where: { id: data.statusId, state: from, scheduleVersion: data.version, messageId: null },
    data: { state: 'failed', error }
  })
  if (count === 0) return 'raced'
  ctx.events.publish('status-failed', { sessionId: data.sessionId, id: data.statusId, error })
  ctx.events.publish('statuses-updated', { sessionId: data.sessionId })
  return 'expired'
}

/**
 * One firing of a scheduled status's job. `later(at)` puts the job back among the delayed ones
 * until `at` (a status not due yet, or whose session is not connected within the grace).
 */
export async function fire (ctx: Ctx, data: ScheduledStatusJob, later: (at: number) => Promise<never>): Promise<FireOutcome> {
  const row = await ctx.prisma.status.findUnique({
    where: { id: data.statusId },
    select: { sessionId: true, state: true, scheduledAt: true, scheduleVersion: true, messageId: true }
  })
  if (row === null || row.sessionId !== data.sessionId) return 'gone'
  if (row.scheduleVersion !== data.version) return 'stale'
  if ((row.state !== 'scheduled' && row.state !== 'pending') || row.scheduledAt === null) return 'done'
  const due = row.scheduledAt.getTime()
  // A firing that stopped between its update and its send (its worker died), or one queued again by
  // the sweep for a status whose send Redis lost (see requeue): within the grace, the send is queued
  // again under the same job id, and the owner's send is idempotent by the status id; past it, the
  // status fails. A send that took its message id is never re-posted from here: it is not lost.
  if (row.state === 'pending') {
    if (row.messageId !== null) return 'handed'
    if (ctx.now() >= due + ctx.graceMs) return await expire(ctx, data, row.scheduledAt, 'pending')
    const owner = await ctx.registry.owner(data.sessionId)
    if (owner?.alive === true) {
      await route(ctx, owner.workerId, data.sessionId, data.statusId)
      return 'rerouted'
    }
    return await later(nextLookAt(ctx.now(), due, ctx.graceMs, ctx.retryMs))
  }
  if (due - ctx.now() > EARLY_MS) return await later(due)
  const target = await connectedOwner(ctx, data.sessionId)
  if (target === null) {
    if (ctx.now() >= due + ctx.graceMs) return await expire(ctx, data, row.scheduledAt)
    return await later(nextLookAt(ctx.now(), due, ctx.graceMs, ctx.retryMs))
  }
  const { count } = await ctx.prisma.status.updateMany({
    where: { id: data.statusId, state: 'scheduled', scheduleVersion: data.version },
    data: { state: 'pending' }
  })
  if (count === 0) return 'raced'
  await route(ctx, target, data.sessionId, data.statusId)
  ctx.log.info({ sessionId: data.sessionId, statusId: data.statusId, workerId: target, lateMs: ctx.now() - due }, 'scheduled status due: send queued')
  return 'routed'
}

/**
 * Queues the job of every scheduled status again, under its version's job id: BullMQ ignores the
 * ones that exist, so only jobs a Redis without its data lost come back (an overdue one fires at
 * once and is sent, or failed past its grace).
 *
 * Statuses that already fired (`pending`, with `scheduledAt`) whose send has not taken its WhatsApp
 * message id yet get their firing job again too: a Redis that lost its data between the fire and
 * the send lost the send's job, and nothing else would ever send them. Past their grace that firing
 * fails them; within it, it only routes the send again, under the send's job id
 * (`send-status-{statusId}`), to the session's live owner, which cannot post the status twice:
 * - a send job that still exists on that owner's queue (waiting, delayed in its grace, running)
 *   holds the id, and BullMQ ignores the add;
 * - a send still running on the owner whose job Redis lost is joined by the new job, not doubled:
 *   the owner's status service runs one send per status id at a time and shares it, and a send
 *   that ended left the row `sent` (answered as it is) or `failed` (refused);
 * - a send on a worker that is no longer the owner has lost its socket: a worker closes its sockets
 *   before its lease can lapse, and a Redis without its data grants no claim until every old owner
 *   has stopped its sessions; until the session has a live owner again the firing only waits;
 * - a send that took its message id (posted, or handed to WhatsApp and never acknowledged) is not
 *   queued again: a re-post would reach the whole audience a second time. Its row stays `pending`.
 */
async function requeue (ctx: Ctx, queue: Queue): Promise<number> {
  return await requeueScheduled(ctx, queue) + await requeueSends(ctx)
}

async function requeueScheduled (ctx: Ctx, queue: Queue): Promise<number> {
  let queued = 0
  let after: string | undefined
  for (;;) {
    const rows = await ctx.prisma.status.findMany({
      where: {
        OR: [{ state: 'scheduled' }, { state: 'pending', messageId: null }],
        scheduledAt: { not: null },
        ...(after === undefined ? {} : { id: { gt: after } })
      },
      select: { id: true, sessionId: true, scheduledAt: true, scheduleVersion: true },
      orderBy: { id: 'asc' },
      take: SWEEP_BATCH
    })
    if (rows.length === 0) return queued
    await queue.addBulk(rows.map(r => ({
      name: 'fire',
      data: { sessionId: r.sessionId, statusId: r.id, version: r.scheduleVersion } satisfies ScheduledStatusJob,
      opts: { ...SCHEDULE_JOB_OPTIONS, jobId: scheduledJobId(r.id, r.scheduleVersion), delay: Math.max(0, (r.scheduledAt?.getTime() ?? 0) - ctx.now()) }
    })))
    queued += rows.length
    after = rows.at(-1)!.id
  }
}

/**
 * A status sent now (no `scheduledAt`) answered 202 whose send job a Redis without its data lost
 * would stay `pending` for ever: each one without a message id is routed again to its session's
 * live owner under the send's job id, with the same guarantees as a fired scheduled status above (a
 * job that still exists holds the id; the owner's send is idempotent by the status id; a send that
 * took its message id is never routed again). One whose session has no live owner now waits for the
 * next sweep.
 */
/** After an outage, pending sends are routed again a second time this much later (see recover). */
const RECOVER_AGAIN_MS = 10_000

async function requeueSends (ctx: Ctx): Promise<number> {
  let routed = 0
  let after: string | undefined
  for (;;) {
    const rows = await ctx.prisma.status.findMany({
      where: { state: 'pending', messageId: null, scheduledAt: null, ...(after === undefined ? {} : { id: { gt: after } }) },
      select: { id: true, sessionId: true },
      orderBy: { id: 'asc' },
      take: SWEEP_BATCH
    })
    if (rows.length === 0) return routed
    for (const r of rows) {
      const owner = await ctx.registry.owner(r.sessionId)
      if (owner?.alive !== true) continue
      await route(ctx, owner.workerId, r.sessionId, r.id)
      routed++
    }
    after = rows.at(-1)!.id
  }
}

/**
 * Scheduled statuses: the deployment's `scheduled-statuses` queue of delayed jobs, consumed by every
 * worker process whatever sessions it owns, and the maintenance sweep that queues again the jobs a
 * Redis without its data lost.
 *
 * The row is the truth. A firing moves it `scheduled → pending` with a conditional update (still
 * scheduled, same version), then queues the send to the session's current owner under the send's
 * job id, where the worker's send is idempotent by the status id. So a job fired twice, retried,
 * stale after an edit, or replayed after a Redis restart sends nothing twice, and a cancelled or
 * edited status is seen as it is at fire time.
 */
export function createScheduledStatuses (deps: ScheduledStatusesDeps) {
  const { log } = deps
  const ctx: Ctx = { ...deps, now: deps.now ?? Date.now, retryMs: deps.retryMs ?? 2000 }
  const queue = new Queue(SCHEDULE_QUEUE, { connection: deps.connection, prefix: deps.bullPrefix })
  queue.on('error', err => log.debug({ err: err.message }, 'schedule queue error'))

  async function processJob (job: Job, token?: string): Promise<FireOutcome> {
    const data = parseScheduledStatusJob(job.data)
    if (data === null) throw new UnrecoverableError('not a scheduled-status job')
    const outcome = await fire(ctx, data, async at => {
      await job.moveToDelayed(at, token)
      throw new DelayedError()
    })
    log.debug({ sessionId: data.sessionId, statusId: data.statusId, version: data.version, outcome }, 'scheduled status job done')
    return outcome
  }

  const worker = new Worker(SCHEDULE_QUEUE, processJob, {
    connection: deps.connection,
    prefix: deps.bullPrefix,
    concurrency: deps.concurrency ?? 32,
    autorun: false,
    // A firing is a few queries; a job still locked past this was lost with its worker and runs again.
    lockDuration: 30_000,
    stalledInterval: 15_000,
    maxStalledCount: 10
  })
  worker.on('error', err => log.debug({ err: err.message }, 'schedule queue error'))
  worker.on('failed', (job, err) => {
    if (!(err instanceof DelayedError)) log.warn({ err: err.message, jobId: job?.id }, 'scheduled status job failed')
  })

  return {
    fire: (data: ScheduledStatusJob, later: (at: number) => Promise<never>) => fire(ctx, data, later),
    /** Queues the job of every scheduled status, and of every fired one not sent yet, again (see {@link requeue}); how many rows. */
    requeue: () => requeue(ctx, queue),
    /**
     * After this worker's lease recovered from an outage (Redis may have come back without its data,
     * delayed jobs included): one worker of the deployment queues the jobs again at once, rather than
     * at the next maintenance run.
     */
    recover (workerId: string): void {
      void (async () => {
        if (!(await deps.registry.lock('scheduled-requeue', workerId, 30_000))) return
        log.info({ queued: await requeue(ctx, queue) }, 'scheduled statuses queued again after an outage')
        // Sends whose session had no live owner yet (its owner sets it back within a renewal
        // interval after a data loss, or it is placed again): once more when that is over.
        await new Promise(resolve => setTimeout(resolve, RECOVER_AGAIN_MS).unref())
        log.info({ routed: await requeueSends(ctx) }, 'pending sends routed again after an outage')
      })().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'scheduled statuses not queued again after an outage'))
    },
    start () { void worker.run() },
    /** Stops taking scheduled jobs and waits for the ones firing. */
    async close () {
      await worker.close()
      await queue.close()
    }
  }
}

export type ScheduledStatuses = ReturnType<typeof createScheduledStatuses>
