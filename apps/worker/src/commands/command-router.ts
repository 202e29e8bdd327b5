import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq'
import type { RedisClient } from '@wss/shared'
import type { PrismaClient } from '@wss/db'
import {
  AppError, COMMAND_JOB_OPTIONS, CommandName, MAX_COMMAND_FORWARDS, encodeCommandReply, isAppError, parseCommandJob, workerQueueName,
  type CommandJob, type CommandResult, type ErrorCode, type OwnerRegistry
} from '@wss/shared'
import type { Logger } from 'pino'
import type { EventPublisher } from '../events.ts'
import type { QueueProducers } from '../lib/queues.ts'
import type { SessionRegistry } from '../sessions/session-registry.ts'
import type { SessionRuntime } from '../sessions/session-runtime.ts'
import { sendGrace } from '../statuses/schedule-grace.ts'
import type { StatusService } from '../statuses/status-service.ts'
import { failedEveryAttempt, giveUp, handlers, runsWithoutStart, type HandlerContext } from './handlers.ts'
import { TransientRefusal } from './transient-refusal.ts'

export interface CommandRouterDeps {
  workerId: string
  /** Connection of the BullMQ worker and of the replies. */
  connection: RedisClient
  bullPrefix: string
  concurrency: number
  startWaitMs: number
  sessions: SessionRegistry
  registry: OwnerRegistry
  queues: QueueProducers
  prisma: PrismaClient
  statuses: StatusService
  events: EventPublisher
  /** A scheduled status that fired is retried this long after its time while its session is not connected (SCHEDULE_GRACE_MINUTES). */
  scheduleGraceMs: number
  /** The first wait between two tries of such a send (then a tenth of its lateness, at most a minute). */
  scheduleRetryMs?: number
  log: Logger
}

/** Where a command runs: on a session running here, on another worker, or (a delete of an ownerless session) nowhere. */
type Placement = { runtime: SessionRuntime } | { forwardTo: string } | { ownerless: true }

type Outcome<K extends CommandName> = { ok: true, name: K, data: CommandResult<K> } | { ok: false, code: ErrorCode, message: string }

/** Answers the caller; a lost reply only makes the caller time out, it must not make the command run again. */
async function reply<K extends CommandName> (deps: CommandRouterDeps, cmd: CommandJob<K>, outcome: Outcome<K>) {
  if (!cmd.replyTo) return
  await deps.connection.publish(cmd.replyTo.channel, encodeCommandReply(cmd.replyTo.requestId, outcome))
    .catch(err => deps.log.warn({ err: (err as Error).message, command: cmd.name }, 'reply not published'))
}

async function place ({ workerId, sessions, registry, prisma }: CommandRouterDeps, cmd: CommandJob): Promise<Placement> {
  const { sessionId } = cmd.payload
  const here = sessions.get(sessionId)
  if (here) return { runtime: here }
  const exists = await prisma.session.findUnique({ where: { id: sessionId }, select: { id: true, state: true } })
  if (!exists) throw new AppError('SESSION_NOT_FOUND', `session ${sessionId} not found`)
  // A send never brings back a session that ended (440: another client took the device, or logged
  // out): starting it would fight that client. A dead owner's session still says connected.
  if (cmd.name === CommandName.SendStatus && exists.state !== 'connected') throw new AppError('SESSION_NOT_CONNECTED', `session ${sessionId} is not connected`)
  const owner = await registry.owner(sessionId)
  if (owner?.alive && owner.workerId !== workerId) return { forwardTo: owner.workerId }
  if (cmd.name === CommandName.DeleteSession && !owner?.alive) return { ownerless: true }
  const runtime = await sessions.acquire(sessionId, !runsWithoutStart.has(cmd.name))
  if (runtime) return { runtime }
  const now = await registry.owner(sessionId)
  if (now?.alive && now.workerId !== workerId) return { forwardTo: now.workerId }
  // Claims are refused for a moment after the registry was reset: retry, do not drop.
  throw new Error('the session could not be claimed yet')
}

function execute<K extends CommandName> (deps: CommandRouterDeps, cmd: CommandJob<K>, runtime: SessionRuntime): Promise<CommandResult<K>> {
  const ctx: HandlerContext = {
    runtime,
    statuses: deps.statuses,
    prisma: deps.prisma,
    startWaitMs: deps.startWaitMs,
    finish: reason => deps.sessions.finish(runtime, reason),
    deleteSession: () => deps.sessions.delete(runtime.sessionId)
  }
  return handlers[cmd.name](ctx, cmd.payload)
}

/** Hands the command to the worker that owns its session, under an id derived from the command's. */
async function forward (deps: CommandRouterDeps, cmd: CommandJob, job: Job, target: string) {
  const forwards = (cmd.forwards ?? cmd.hops ?? 0) + 1
  if (forwards > MAX_COMMAND_FORWARDS) throw new AppError('NO_WORKER', 'the command could not reach the session owner')
  const commandId = cmd.commandId ?? job.id ?? randomUUID()
  const { hops: _old, ...rest } = cmd
  await deps.queues.of(target).add(cmd.name, { ...rest, commandId, forwards }, { ...COMMAND_JOB_OPTIONS, jobId: `${commandId}-f${forwards}` })
}

async function run<K extends CommandName> (deps: CommandRouterDeps, cmd: CommandJob<K>, job: Job): Promise<void> {
  const placed = await place(deps, cmd)
  if ('forwardTo' in placed) return await forward(deps, cmd, job, placed.forwardTo)
  if ('ownerless' in placed) {
    // Nothing can be connected without a live owner: the rows are deleted here.
    await deps.sessions.delete(cmd.payload.sessionId)
    return await reply(deps, cmd as CommandJob<typeof CommandName.DeleteSession>, { ok: true, name: CommandName.DeleteSession, data: { deleted: true } })
  }
  await reply(deps, cmd, { ok: true, name: cmd.name, data: await execute(deps, cmd, placed.runtime) })
}

/** First wait, and longest, between tries of a give-up the database refused; tries stop after GIVE_UP_FOR_MS. */
const GIVE_UP_RETRY_MS = { first: 500, max: 15_000 }
const GIVE_UP_FOR_MS = 10 * 60_000

/**
 * Marks a send that will not go out `failed` and says so (`status-failed`), retrying while the
 * database refuses (a restart can meet the last attempt): a status the API answered 202 for never
 * stays `pending` because the write that ends it met an outage. Resolves after the first try, so
 * the caller's answer follows the row's state whenever the database is up; the later tries run
 * beside the job, and the router's close() stops them.
 */
async function settleFailed (deps: CommandRouterDeps, state: RouterState, cmd: CommandJob, error: string, jlog: Logger): Promise<void> {
  if (cmd.name !== CommandName.SendStatus) return
  const attempt = async () => {
    const failed = await giveUp(deps.prisma, cmd.name, cmd.payload, error)
    if (failed) deps.events.publish('status-failed', failed)
  }
  try {
    await attempt()
    return
  } catch (err) {
    jlog.warn({ err: (err as Error).message }, 'marking the status failed: the database refused, trying again')
  }
  const tries = (async () => {
    const until = Date.now() + GIVE_UP_FOR_MS
    for (let wait = GIVE_UP_RETRY_MS.first; ; wait = Math.min(wait * 2, GIVE_UP_RETRY_MS.max)) {
      await sleep(wait, undefined, { signal: state.stop.signal }).catch(() => undefined)
      try {
        await attempt()
        return
      } catch (err) {
        if (state.stop.signal.aborted || Date.now() + wait > until) { jlog.error({ err }, 'failed command left no trace'); return }
        jlog.warn({ err: (err as Error).message, retryInMs: wait }, 'marking the status failed: the database refused, trying again')
      }
    }
  })()
  state.settling.add(tries)
  void tries.finally(() => state.settling.delete(tries))
}

interface RouterState { stop: AbortController, settling: Set<Promise<void>> }

/**
 * A refusal of a send because its session is not connected, and the session is indeed not
 * connected here now: a send that failed on a connected socket (a media upload refused, a rate
 * limit) is reported as a dropped connection too, and must not get the grace.
 */
function notConnected (deps: CommandRouterDeps, sessionId: string, err: unknown): boolean {
  const refusal = err instanceof TransientRefusal ? err.refusal : err
  if (!isAppError(refusal) || refusal.code !== 'SESSION_NOT_CONNECTED') return false
  return deps.sessions.get(sessionId)?.connected !== true
}

/**
 * A scheduled status that fired keeps its grace: a send of it that meets its session not
 * connected goes back among this queue's delayed jobs (same job id, its attempts untouched) until
 * `scheduledAt` + SCHEDULE_GRACE_MINUTES, then the status fails naming the grace. False for any
 * other command or status: the normal retries apply. A database that cannot say whether the status
 * is in its grace, or a Redis that cannot delay the job, leaves the job to BullMQ's retries: the
 * status is never failed for that.
 */
async function applyGrace (deps: CommandRouterDeps, state: RouterState, cmd: CommandJob, err: unknown, job: Job, token: string | undefined, jlog: Logger): Promise<boolean> {
  const statusId = 'statusId' in cmd.payload ? cmd.payload.statusId : undefined
  if (cmd.name !== CommandName.SendStatus || typeof statusId !== 'string' || !notConnected(deps, cmd.payload.sessionId, err)) return false
  const grace = await sendGrace(deps.prisma, statusId, deps.scheduleGraceMs, deps.scheduleRetryMs ?? 2000).catch((readErr: unknown) => {
    jlog.warn({ err: (readErr as Error).message }, 'scheduled status: its grace could not be read, retried')
    throw readErr
  })
  if (grace === null) return false
  if ('retryAt' in grace) {
    jlog.info({ retryInMs: grace.retryAt - Date.now() }, 'scheduled status: session not connected, retried within its grace')
    try {
      await job.moveToDelayed(grace.retryAt, token)
    } catch (delayErr) {
      jlog.warn({ err: (delayErr as Error).message }, 'scheduled status: its send could not be delayed, retried')
      throw new Error(`the send could not be delayed within its grace: ${(delayErr as Error).message}`)
    }
    throw new DelayedError()
  }
  jlog.info('scheduled status: session not connected at the end of its grace')
  await settleFailed(deps, state, cmd, grace.failed, jlog)
  await reply(deps, cmd, { ok: false, code: 'SESSION_NOT_CONNECTED', message: grace.failed })
  return true
}

/** Runs one job: a coded refusal is an answer; any other failure is rethrown for BullMQ to retry, and answered once the last attempt failed. */
async function processJob (deps: CommandRouterDeps, state: RouterState, job: Job, token?: string): Promise<void> {
  const cmd = parseCommandJob(job.data)
  if (!cmd) {
    deps.log.warn({ jobId: job.id }, 'invalid command dropped')
    throw new UnrecoverableError('invalid command job')
  }
  const jlog = deps.log.child({ sessionId: cmd.payload.sessionId, command: cmd.name, jobId: job.id })
  try {
    await run(deps, cmd, job)
  } catch (err) {
    if (await applyGrace(deps, state, cmd, err, job, token, jlog)) return
    if (isAppError(err)) {
      jlog.info({ code: err.code }, 'command refused')
      // A send refused because its session is not connected will not go out: it does not stay pending.
      if (err.code === 'SESSION_NOT_CONNECTED') await settleFailed(deps, state, cmd, failedEveryAttempt(err.message), jlog)
      return await reply(deps, cmd, { ok: false, code: err.code, message: err.message })
    }
    const attempts = job.opts.attempts ?? 1
    if (job.attemptsMade + 1 < attempts) {
      jlog.warn({ err: (err as Error).message, attempt: job.attemptsMade + 1, attempts }, 'command failed, retrying')
      throw err
    }
    jlog.error({ err }, 'command failed on every attempt')
    const refusal = err instanceof TransientRefusal ? err.refusal : null
    await settleFailed(deps, state, cmd, failedEveryAttempt(refusal?.message), jlog)
    await reply(deps, cmd, refusal ? { ok: false, code: refusal.code, message: refusal.message } : { ok: false, code: 'INTERNAL', message: 'the worker could not run the command' })
    throw err
  }
}

/**
 * This worker's command queue: runs each command on the session it names when this worker owns
 * (or can claim) it, forwards it to the live owner otherwise, and answers on the caller's reply
 * channel. A coded refusal (`AppError`) is an answer; any other failure is retried by BullMQ
 * (`COMMAND_JOB_OPTIONS`) and, once every attempt failed, answered `INTERNAL`.
 */
export function createCommandRouter (deps: CommandRouterDeps) {
  const state: RouterState = { stop: new AbortController(), settling: new Set() }
  const worker = new Worker(workerQueueName(deps.workerId), (job, token) => processJob(deps, state, job, token), {
    connection: deps.connection,
    prefix: deps.bullPrefix,
    concurrency: deps.concurrency,
    autorun: false,
    lockDuration: 60_000,
    stalledInterval: 15_000
  })
  worker.on('error', err => deps.log.debug({ err: err.message }, 'queue error'))

  return {
    start () { void worker.run() },
    /** Stops taking commands and waits for the running ones (and for give-ups being written, which stop trying). */
    async close () {
      await worker.close()
      state.stop.abort()
      await Promise.all(state.settling)
    }
  }
}
