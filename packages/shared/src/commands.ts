import { Type, type Static, type TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { SessionIdSchema, SessionStateSchema, StatusIdSchema, StatusSchema } from './api-schemas.ts'
import { ErrorCodes, type ErrorCode } from './errors.ts'

/**
 * Commands the API sends to the worker that owns a session (BullMQ, one queue per worker).
 * Payloads carry ids, never credentials or auth state.
 */
export const CommandName = {
  StartSession: 'start-session',
  RestartSession: 'restart-session',
  DeleteSession: 'delete-session',
  RequestPairingCode: 'request-pairing-code',
  UpdatePhoneNumber: 'update-phone-number',
  SendStatus: 'send-status',
  DeleteStatus: 'delete-status'
} as const
export type CommandName = (typeof CommandName)[keyof typeof CommandName]

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

/** Where a session stands once a start or restart settled (a code, a QR, connected, gave up), or `pending` when it had not yet. */
export const SessionSettledSchema = Type.Object({
  state: SessionStateSchema,
  pairingCode: Nullable(Type.String()),
  qrCode: Nullable(Type.String()),
  lastError: Nullable(Type.String()),
  pending: Type.Boolean({ description: 'True when the wait ran out before the session settled' })
})
export type SessionSettled = Static<typeof SessionSettledSchema>

/**
 * Each command's payload and result. Adding a command here makes the worker's handler map and
 * the API's `send` typed for it: a missing handler or a wrong result is a compile error.
 */
export const Commands = {
  [CommandName.StartSession]: {
    payload: Type.Object({
      sessionId: SessionIdSchema,
      reason: Type.Optional(Type.Union([Type.Literal('created'), Type.Literal('resume'), Type.Literal('takeover')]))
    }),
    result: SessionSettledSchema
  },
  [CommandName.RestartSession]: {
    payload: Type.Object({ sessionId: SessionIdSchema }),
    result: SessionSettledSchema
  },
  [CommandName.DeleteSession]: {
    payload: Type.Object({ sessionId: SessionIdSchema }),
    result: Type.Object({ deleted: Type.Literal(true) })
  },
  [CommandName.RequestPairingCode]: {
    payload: Type.Object({ sessionId: SessionIdSchema }),
    result: Type.Object({ pairingCode: Type.String() })
  },
  [CommandName.UpdatePhoneNumber]: {
    payload: Type.Object({ sessionId: SessionIdSchema, phoneNumber: Type.String({ pattern: '^[0-9]{10,15}$' }) }),
    result: Type.Object({ phoneNumber: Type.String(), pairingCode: Nullable(Type.String()) })
  },
  [CommandName.SendStatus]: {
    payload: Type.Object({ sessionId: SessionIdSchema, statusId: StatusIdSchema }),
    result: StatusSchema
  },
  [CommandName.DeleteStatus]: {
    payload: Type.Object({ sessionId: SessionIdSchema, statusId: StatusIdSchema }),
    result: StatusSchema
  }
} as const satisfies { [K in CommandName]: { payload: TSchema, result: TSchema } }

export type CommandPayload<K extends CommandName> = Static<(typeof Commands)[K]['payload']>
export type CommandResult<K extends CommandName> = Static<(typeof Commands)[K]['result']>

/** Where the worker answers a command: a Redis pub/sub channel of the waiting API node. */
export const ReplyToSchema = Type.Object({ channel: Type.String(), requestId: Type.String() })
export type ReplyTo = Static<typeof ReplyToSchema>

const CommandNameSchema = Type.Union(Object.values(CommandName).map(n => Type.Literal(n)))

/**
 * The data of every command job. `commandId` names the command for its whole life (the job id the
 * API gave it; forwarded copies get ids derived from it); `forwards` counts hand-overs between
 * workers (retries are BullMQ's own attempts). `hops` is what jobs queued before `forwards` carry.
 */
export const CommandJobSchema = Type.Object({
  name: CommandNameSchema,
  payload: Type.Object({ sessionId: SessionIdSchema }, { additionalProperties: true }),
  replyTo: Type.Optional(ReplyToSchema),
  commandId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  forwards: Type.Optional(Type.Integer({ minimum: 0 })),
  hops: Type.Optional(Type.Integer({ minimum: 0 })),
  enqueuedAt: Type.Optional(Type.Number())
})
export type CommandJob<K extends CommandName = CommandName> = Omit<Static<typeof CommandJobSchema>, 'name' | 'payload'> & {
  name: K
  payload: CommandPayload<K>
}

const ErrorCodeSchema = Type.Unsafe<ErrorCode>(Type.Enum(Object.keys(ErrorCodes)))

/** A worker's answer to a command: the command's result, or one of the coded errors of `errors.ts`. */
export const CommandReplySchema = Type.Union([
  Type.Object({ requestId: Type.String(), ok: Type.Literal(true), data: Type.Unknown() }),
  Type.Object({ requestId: Type.String(), ok: Type.Literal(false), code: ErrorCodeSchema, message: Type.String() })
])
export type CommandReply = Static<typeof CommandReplySchema>

const checkJob = Compile(CommandJobSchema)
const checkReply = Compile(CommandReplySchema)
type Checks = { [K in CommandName]: { Check (value: unknown): boolean } }
const checkPayload = Object.fromEntries(Object.entries(Commands).map(([name, c]) => [name, Compile(c.payload as TSchema)])) as unknown as Checks
const checkResult = Object.fromEntries(Object.entries(Commands).map(([name, c]) => [name, Compile(c.result as TSchema)])) as unknown as Checks

/** Validates a command job read from the queue; null when invalid. */
export function parseCommandJob (data: unknown): CommandJob | null {
  if (!checkJob.Check(data)) return null
  const job = data as CommandJob
  return checkPayload[job.name].Check(job.payload) ? job : null
}

/** True when `payload` is a valid payload of command `name`. */
export function isCommandPayload<K extends CommandName> (name: K, payload: unknown): payload is CommandPayload<K> {
  return checkPayload[name].Check(payload)
}

/** True when `data` is a valid result of command `name`. */
export function isCommandResult<K extends CommandName> (name: K, data: unknown): data is CommandResult<K> {
  return checkResult[name].Check(data)
}

/** The one encoding of a worker's reply (a success with the command's result, or a coded error). */
export function encodeCommandReply<K extends CommandName> (
  requestId: string,
  outcome: { ok: true, name: K, data: CommandResult<K> } | { ok: false, code: ErrorCode, message: string }
): string {
  const reply: CommandReply = outcome.ok
    ? { requestId, ok: true, data: outcome.data }
    : { requestId, ok: false, code: outcome.code, message: outcome.message }
  return JSON.stringify(reply)
}

/** Validates a reply read from pub/sub (its envelope; the result is checked by {@link isCommandResult}); null when invalid. */
export function parseCommandReply (text: string | Buffer): CommandReply | null {
  try {
    const value = JSON.parse(text.toString()) as unknown
    return checkReply.Check(value) ? value as CommandReply : null
  } catch {
    return null
  }
}

/**
 * The job id of a status's send, wherever it is queued (API, a scheduled status firing): BullMQ
 * ignores a second one while the first is queued.
 */
export const sendStatusJobId = (statusId: string) => `send-status-${statusId}`

/** BullMQ queue name of a worker's command queue. */
export const workerQueueName = (workerId: string) => `cmd-${workerId}`

/**
 * BullMQ options of every command job, wherever it is enqueued (API, forward, reap, sweep): a
 * transient failure (database, lease hiccup) is retried with jittered exponential backoff
 * (~0.5, 1, 2, 4, 8 s); a job that failed every attempt is kept a day for inspection.
 */
export const COMMAND_JOB_OPTIONS = {
  attempts: 6,
  backoff: { type: 'exponential', delay: 500, jitter: 0.5 },
  removeOnComplete: true,
  removeOnFail: { age: 24 * 3600, count: 1000 }
} as const

/** How many times a command may be handed from worker to worker before it is refused (`NO_WORKER`). */
export const MAX_COMMAND_FORWARDS = 5
