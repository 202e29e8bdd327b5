import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { SessionIdSchema, StatusIdSchema } from './api-schemas.ts'

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

/** Payload schema of each command. */
export const CommandPayloadSchemas = {
  [CommandName.StartSession]: Type.Object({
    sessionId: SessionIdSchema,
    reason: Type.Optional(Type.Union([Type.Literal('created'), Type.Literal('resume'), Type.Literal('takeover')]))
  }),
  [CommandName.RestartSession]: Type.Object({ sessionId: SessionIdSchema }),
  [CommandName.DeleteSession]: Type.Object({ sessionId: SessionIdSchema }),
  [CommandName.RequestPairingCode]: Type.Object({ sessionId: SessionIdSchema }),
  [CommandName.UpdatePhoneNumber]: Type.Object({ sessionId: SessionIdSchema, phoneNumber: Type.String({ pattern: '^[0-9]{10,15}$' }) }),
  [CommandName.SendStatus]: Type.Object({ sessionId: SessionIdSchema, statusId: StatusIdSchema }),
  [CommandName.DeleteStatus]: Type.Object({ sessionId: SessionIdSchema, statusId: StatusIdSchema })
} as const
export type CommandPayload<K extends CommandName> = Static<(typeof CommandPayloadSchemas)[K]>

/** Where the worker answers a command: a Redis pub/sub channel of the waiting API node. */
export const ReplyToSchema = Type.Object({ channel: Type.String(), requestId: Type.String() })
export type ReplyTo = Static<typeof ReplyToSchema>

/** The data of every command job. `hops` counts forwards between workers. */
export const CommandJobSchema = Type.Object({
  name: Type.Union(Object.values(CommandName).map(n => Type.Literal(n))),
  payload: Type.Object({ sessionId: SessionIdSchema }, { additionalProperties: true }),
  replyTo: Type.Optional(ReplyToSchema),
  hops: Type.Optional(Type.Integer({ minimum: 0 })),
  enqueuedAt: Type.Optional(Type.Number())
})
export type CommandJob<K extends CommandName = CommandName> = {
  name: K
  payload: CommandPayload<K>
  replyTo?: ReplyTo
  hops?: number
  enqueuedAt?: number
}

/** A worker's answer to a command. `code` is one of the coded errors of `errors.ts`. */
export const CommandReplySchema = Type.Union([
  Type.Object({ requestId: Type.String(), ok: Type.Literal(true), data: Type.Optional(Type.Unknown()) }),
  Type.Object({ requestId: Type.String(), ok: Type.Literal(false), code: Type.String(), message: Type.String() })
])
export type CommandReply = Static<typeof CommandReplySchema>

/** Validates a command job read from the queue; null when invalid. */
export function parseCommandJob (data: unknown): CommandJob | null {
  if (!Value.Check(CommandJobSchema, data)) return null
  const job = data as CommandJob
  return Value.Check(CommandPayloadSchemas[job.name], job.payload) ? job : null
}

/** Validates a reply read from pub/sub; null when invalid. */
export function parseCommandReply (text: string | Buffer): CommandReply | null {
  try {
    const value = JSON.parse(text.toString()) as unknown
    return Value.Check(CommandReplySchema, value) ? value : null
  } catch {
    return null
  }
}

/** BullMQ queue name of a worker's command queue. */
export const workerQueueName = (workerId: string) => `cmd-${workerId}`

/** BullMQ key prefix under the deployment's Redis prefix. */
export const bullPrefix = (redisPrefix: string) => `${redisPrefix}:bull`

/** The reply channel of one API node. */
export const replyChannel = (redisPrefix: string, nodeId: string) => `${redisPrefix}:replies:${nodeId}`
