import type { PrismaClient, Status as StatusRow } from '@wss/db'
import { AppError, CommandName, toStatus, type CommandPayload, type CommandResult, type SessionSettled, type Status } from '@wss/shared'
import type { SessionRuntime } from '../sessions/session-runtime.ts'
import type { StatusService } from '../statuses/status-service.ts'

export interface HandlerContext {
  /** The running session, started when the command needs it. */
  runtime: SessionRuntime
  statuses: StatusService
  prisma: PrismaClient
  /** Stops and forgets the session on this worker, releasing its ownership. */
  finish (reason: string): Promise<void>
  deleteSession (): Promise<void>
  startWaitMs: number
}

type Handler<K extends CommandName> = (ctx: HandlerContext, payload: CommandPayload<K>) => Promise<CommandResult<K>>

const settledView = (s: Awaited<ReturnType<SessionRuntime['settled']>>): SessionSettled => s
  ? { state: s.state, pairingCode: s.pairingCode, qrCode: s.qrCode, lastError: s.lastError ?? null, pending: false }
  : { state: 'connecting', pairingCode: null, qrCode: null, lastError: null, pending: true }

async function statusWithViews (prisma: PrismaClient, row: StatusRow): Promise<Status> {
  return toStatus(row, await prisma.statusViewer.count({ where: { statusId: row.id } }))
}

/**
 * One handler per command: a missing one, or one that answers something other than the
 * command's result schema (`Commands` in @wss/shared), is a compile error.
 */
export const handlers: { [K in CommandName]: Handler<K> } = {
  [CommandName.StartSession]: async ({ runtime, startWaitMs }) => settledView(await runtime.settled(startWaitMs)),

  [CommandName.RestartSession]: async ({ runtime, startWaitMs }) => {
    await runtime.restart()
    return settledView(await runtime.settled(startWaitMs))
  },

  [CommandName.DeleteSession]: async ({ deleteSession }) => {
    await deleteSession()
    return { deleted: true }
  },

  [CommandName.RequestPairingCode]: async ({ runtime }) => {
    const s = await runtime.requestPairingCode()
    if (!s?.pairingCode) throw new AppError('WORKER_TIMEOUT', s?.lastError ?? 'no pairing code was issued in time')
    return { pairingCode: s.pairingCode }
  },

  [CommandName.UpdatePhoneNumber]: async ({ runtime }, { phoneNumber }) => {
    if (runtime.session.authMethod !== 'pairing') throw new AppError('SESSION_NOT_PAIRING', 'only pairing-code sessions have a pairing number')
    const s = await runtime.requestPairingCode(phoneNumber)
    return { phoneNumber, pairingCode: s?.pairingCode ?? null }
  },

  [CommandName.SendStatus]: async ({ runtime, statuses, prisma }, { statusId }) => statusWithViews(prisma, await statuses.send(runtime, statusId)),

  [CommandName.DeleteStatus]: async ({ runtime, statuses, prisma }, { statusId }) => statusWithViews(prisma, await statuses.revoke(runtime, statusId))
}

/** Commands that must not start a session that is not running (they act on its data or end it). */
export const runsWithoutStart: ReadonlySet<CommandName> = new Set([CommandName.DeleteSession])

/** The error of a send that failed on every attempt (or was refused), with the last refusal's reason. */
export const failedEveryAttempt = (reason?: string) => `the worker could not send the status (it failed on every attempt${reason === undefined ? '' : `: ${reason}`})`

/**
 * What a command leaves behind when it fails for good (every attempt failed, a coded refusal, or
 * a scheduled status's grace over): a send the worker could not carry out is marked failed with
 * `error`, so no status stays pending forever.
 */
export async function giveUp (prisma: PrismaClient, name: CommandName, payload: { sessionId: string, statusId?: unknown }, error: string): Promise<{ sessionId: string, id: string, error: string } | null> {
  if (name !== CommandName.SendStatus || typeof payload.statusId !== 'string') return null
  const { count } = await prisma.status.updateMany({ where: { id: payload.statusId, state: 'pending' }, data: { state: 'failed', error } })
  return count === 1 ? { sessionId: payload.sessionId, id: payload.statusId, error } : null
}
