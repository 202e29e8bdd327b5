import { AppError, CommandName, type CommandPayload } from '@wss/shared'
import type { SessionRuntime } from '../sessions/session-runtime.ts'
import type { StatusService } from '../statuses/status-service.ts'
import { statusView } from '../statuses/status-service.ts'

export interface HandlerContext {
  /** The running session, started when the command needs it. */
  runtime: SessionRuntime
  statuses: StatusService
  /** Stops and forgets the session on this worker, releasing its ownership. */
  finish (reason: string): Promise<void>
  deleteSession (): Promise<void>
  startWaitMs: number
}

type Handler<K extends CommandName> = (ctx: HandlerContext, payload: CommandPayload<K>) => Promise<unknown>

const settledView = (s: Awaited<ReturnType<SessionRuntime['settled']>>) =>
  s ? { state: s.state, pairingCode: s.pairingCode, qrCode: s.qrCode, lastError: s.lastError ?? null } : { state: 'connecting', pending: true }

/** One handler per command: a missing one is a compile error. */
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

  [CommandName.SendStatus]: async ({ runtime, statuses }, { statusId }) => statusView(await statuses.send(runtime, statusId)),

  [CommandName.DeleteStatus]: async ({ runtime, statuses }, { statusId }) => statusView(await statuses.revoke(runtime, statusId))
}

/** Commands that must not start a session that is not running (they act on its data or end it). */
export const runsWithoutStart = new Set<CommandName>([CommandName.DeleteSession])
