import { Type, type Static, type TSchema } from 'typebox'
import { Compile, type Validator } from 'typebox/compile'
import { redisKeys } from './redis-keys.ts'
import { AudienceSpecSchema } from './audience.ts'
import {
  SessionIdSchema,
  SessionStateSchema,
  AuthMethodSchema,
  StatusIdSchema,
  StatusTypeSchema,
  StatusStateSchema,
  ViewerSchema
} from './api-schemas.ts'

/** Every event a client can receive over Socket.IO or `GET /api/events` (API.md, "Events"). */
export const EventName = {
  ConnectionStatus: 'connection-status',
  PairingCode: 'pairing-code',
  QrCode: 'qr-code',
  StatusSent: 'status-sent',
  StatusViewersUpdate: 'status-viewers-update',
  StatusDeleted: 'status-deleted',
  StatusesUpdated: 'statuses-updated',
  SessionCreated: 'session-created',
  SessionDeleted: 'session-deleted',
  StatusFailed: 'status-failed',
  StatusProgress: 'status-progress',
  StatusCancelled: 'status-cancelled',
  WebhookDisabled: 'webhook-disabled',
  ContactsUpdated: 'contacts-updated'
} as const
export type EventName = (typeof EventName)[keyof typeof EventName]

/** Every event name, in contract order. */
export const EVENT_NAMES: readonly EventName[] = Object.values(EventName)

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

// Payloads accept extra fields: a publisher may add an optional field before every reader knows it.

/** Payload of `connection-status`; `status` carries the session's state. */
export const ConnectionStatusPayloadSchema = Type.Object({
  sessionId: SessionIdSchema,
  connected: Type.Boolean(),
  ownNumber: Type.Optional(Nullable(Type.String())),
  status: Type.Optional(SessionStateSchema)
})

/** Payload of `pairing-code`. */
export const PairingCodePayloadSchema = Type.Object({
  sessionId: SessionIdSchema,
  pairingCode: Type.String(),
  phoneNumber: Type.String()
})

/** Payload of `qr-code`; `qrCode` is a `data:image/png;base64,...` URL. */
export const QrCodePayloadSchema = Type.Object({
  sessionId: SessionIdSchema,
  qrCode: Type.String()
})

/** Payload of `status-sent`: the status as stored, with its session. */
export const StatusSentPayloadSchema = Type.Object({
  sessionId: SessionIdSchema,
  id: StatusIdSchema,
  type: StatusTypeSchema,
  content: Type.Optional(Type.String()),
  caption: Type.Optional(Nullable(Type.String())),
  targetNumbers: Type.Optional(Type.Array(Type.String())),
  state: Type.Optional(StatusStateSchema),
  sentAt: Type.Optional(Nullable(Type.String())),
  expiresAt: Type.Optional(Nullable(Type.String())),
  viewCount: Type.Optional(Type.Integer({ minimum: 0 })),
  audience: Type.Optional(Nullable(AudienceSpecSchema)),
  audienceSize: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
  skipped: Type.Optional(Nullable(Type.Integer({ minimum: 0 })))
})

/** Payload of `status-viewers-update`. */
export const StatusViewersUpdatePayloadSchema = Type.Object({
  sessionId: SessionIdSchema,
  statusId: StatusIdSchema,
  viewers: Type.Array(ViewerSchema)
})

/** Payload of `status-deleted`. */
export const StatusDeletedPayloadSchema = Type.Object({
  sessionId: SessionIdSchema,
  statusId: StatusIdSchema
})

/** Payload of `statuses-updated`: a hint to re-read the session's statuses. */
export const StatusesUpdatedPayloadSchema = Type.Object({
  sessionId: SessionIdSchema
})

/** Payload of `session-created`: the session id and whatever of the session object is known. */
export const SessionCreatedPayloadSchema = Type.Object({
  sessionId: SessionIdSchema,
  sessionName: Type.Optional(Type.String()),
  authMethod: Type.Optional(AuthMethodSchema),
  state: Type.Optional(SessionStateSchema),
  phoneNumber: Type.Optional(Nullable(Type.String())),
  createdAt: Type.Optional(Type.String())
})

/** Payload of `session-deleted`. */
export const SessionDeletedPayloadSchema = Type.Object({
  sessionId: SessionIdSchema
})

/** Payload of `status-failed` (addition): WhatsApp refused or the send gave up. */
export const StatusFailedPayloadSchema = Type.Object({
  sessionId: SessionIdSchema,
  id: StatusIdSchema,
  error: Type.String()
})

/** Payload of `status-progress` (addition): sent so far out of the whole audience. */
export const StatusProgressPayloadSchema = Type.Object({
  sessionId: SessionIdSchema,
  id: StatusIdSchema,
  sent: Type.Integer({ minimum: 0 }),
  total: Type.Integer({ minimum: 0 })
})

/** Payload of `status-cancelled` (addition): a scheduled status was cancelled before it was sent. */
export const StatusCancelledPayloadSchema = Type.Object({
  sessionId: SessionIdSchema,
  id: StatusIdSchema
})

/** Payload of `webhook-disabled` (addition): the server disabled a webhook endpoint (`gone`: it answered 410; `failing`: every attempt failed for the whole window). */
export const WebhookDisabledPayloadSchema = Type.Object({
  webhookId: Type.String({ format: 'uuid' }),
  reason: Type.Enum(['gone', 'failing'])
})

/**
 * Payload of `contacts-updated` (addition): a batch of the session's contacts was written. Counts:
 * entered the address book, other changes (names, push names, LIDs), left the address book;
 * `changed` their sum; `total` the contacts now in the address book.
 */
export const ContactsUpdatedPayloadSchema = Type.Object({
  sessionId: SessionIdSchema,
  added: Type.Integer({ minimum: 0 }),
  updated: Type.Integer({ minimum: 0 }),
  removed: Type.Integer({ minimum: 0 }),
  changed: Type.Integer({ minimum: 0 }),
  total: Type.Integer({ minimum: 0 })
})

/** The payload schema of each event, keyed by event name. */
export const EventPayloadSchemas = {
  [EventName.ConnectionStatus]: ConnectionStatusPayloadSchema,
  [EventName.PairingCode]: PairingCodePayloadSchema,
  [EventName.QrCode]: QrCodePayloadSchema,
  [EventName.StatusSent]: StatusSentPayloadSchema,
  [EventName.StatusViewersUpdate]: StatusViewersUpdatePayloadSchema,
  [EventName.StatusDeleted]: StatusDeletedPayloadSchema,
  [EventName.StatusesUpdated]: StatusesUpdatedPayloadSchema,
  [EventName.SessionCreated]: SessionCreatedPayloadSchema,
  [EventName.SessionDeleted]: SessionDeletedPayloadSchema,
  [EventName.StatusFailed]: StatusFailedPayloadSchema,
  [EventName.StatusProgress]: StatusProgressPayloadSchema,
  [EventName.StatusCancelled]: StatusCancelledPayloadSchema,
  [EventName.WebhookDisabled]: WebhookDisabledPayloadSchema,
  [EventName.ContactsUpdated]: ContactsUpdatedPayloadSchema
} as const satisfies { [K in EventName]: TSchema }

/** The payload type of event `K`. */
export type EventPayload<K extends EventName> = Static<(typeof EventPayloadSchemas)[K]>
export type ConnectionStatusPayload = EventPayload<'connection-status'>
export type PairingCodePayload = EventPayload<'pairing-code'>
export type QrCodePayload = EventPayload<'qr-code'>
export type StatusSentPayload = EventPayload<'status-sent'>
export type StatusViewersUpdatePayload = EventPayload<'status-viewers-update'>
export type StatusDeletedPayload = EventPayload<'status-deleted'>
export type StatusesUpdatedPayload = EventPayload<'statuses-updated'>
export type SessionCreatedPayload = EventPayload<'session-created'>
export type SessionDeletedPayload = EventPayload<'session-deleted'>
export type StatusFailedPayload = EventPayload<'status-failed'>
export type StatusProgressPayload = EventPayload<'status-progress'>
export type StatusCancelledPayload = EventPayload<'status-cancelled'>
export type WebhookDisabledPayload = EventPayload<'webhook-disabled'>
export type ContactsUpdatedPayload = EventPayload<'contacts-updated'>

const busVariant = <K extends EventName, S extends TSchema>(event: K, data: S) =>
  Type.Object({ event: Type.Literal(event), data })

/** A message on the Redis events channel (and a frame on `GET /api/events`): `{ event, data }`. */
export const BusEventSchema = Type.Union([
  busVariant(EventName.ConnectionStatus, ConnectionStatusPayloadSchema),
  busVariant(EventName.PairingCode, PairingCodePayloadSchema),
  busVariant(EventName.QrCode, QrCodePayloadSchema),
  busVariant(EventName.StatusSent, StatusSentPayloadSchema),
  busVariant(EventName.StatusViewersUpdate, StatusViewersUpdatePayloadSchema),
  busVariant(EventName.StatusDeleted, StatusDeletedPayloadSchema),
  busVariant(EventName.StatusesUpdated, StatusesUpdatedPayloadSchema),
  busVariant(EventName.SessionCreated, SessionCreatedPayloadSchema),
  busVariant(EventName.SessionDeleted, SessionDeletedPayloadSchema),
  busVariant(EventName.StatusFailed, StatusFailedPayloadSchema),
  busVariant(EventName.StatusProgress, StatusProgressPayloadSchema),
  busVariant(EventName.StatusCancelled, StatusCancelledPayloadSchema),
  busVariant(EventName.WebhookDisabled, WebhookDisabledPayloadSchema),
  busVariant(EventName.ContactsUpdated, ContactsUpdatedPayloadSchema)
])
export type BusEvent = Static<typeof BusEventSchema>

/** Whether an event belongs to one session (every event but `webhook-disabled`). */
export function sessionOf (event: BusEvent): string | null {
  return 'sessionId' in event.data ? event.data.sessionId : null
}

/**
 * `events-gap` (addition): not a bus event but a notice from the API node a client is connected
 * to. The node's subscription to the events channel was down between `from` and `to` (ISO 8601),
 * for instance while Redis restarted: events of that period may never arrive, so a client re-reads
 * the state it follows through the API, as after a reconnect of its own.
 */
export const EVENTS_GAP = 'events-gap'
export interface EventsGapPayload { from: string, to: string }

/** Default Redis key prefix; deployments (and tests) may choose another one. */
export const DEFAULT_REDIS_PREFIX = 'wss'

/** Name of the Redis pub/sub channel that carries `BusEvent`s under a key prefix. */
export function eventsChannel (prefix: string = DEFAULT_REDIS_PREFIX): string {
  return redisKeys(prefix).eventsChannel
}

/** The events channel under the default prefix: `wss:events`. */
export const EVENTS_CHANNEL = eventsChannel(DEFAULT_REDIS_PREFIX)

// Compiled once per event on first use: the interpreted Value.Check walked every viewer of a
// 1,000-viewer status-viewers-update on each publish and on each API node that relays it.
const validators = new Map<EventName, Validator>()
function validator (event: EventName): Validator {
  let v = validators.get(event)
  if (!v) validators.set(event, v = Compile(EventPayloadSchemas[event] as TSchema) as unknown as Validator)
  return v
}

const isEventName = (value: unknown): value is EventName =>
  typeof value === 'string' && (EVENT_NAMES as readonly string[]).includes(value)

/** Parses and validates a pub/sub message; returns null when it is not valid JSON or not a known, well-formed event. */
export function parseBusEvent (json: string | Buffer): BusEvent | null {
  let value: unknown
  try {
    value = JSON.parse(typeof json === 'string' ? json : json.toString('utf8'))
  } catch {
    return null
  }
  // Checking the one variant named by `event` keeps the cost flat as events are added.
  if (typeof value !== 'object' || value === null) return null
  const { event, data } = value as { event?: unknown, data?: unknown }
  if (!isEventName(event)) return null
  if (!validator(event).Check(data)) return null
  return { event, data } as BusEvent
}

/** Serialises an event for publishing on the events channel; throws a TypeError when the payload breaks its schema. */
export function encodeBusEvent<K extends EventName> (event: K, data: EventPayload<K>): string {
  const check = validator(event)
  if (!check.Check(data)) {
    const first = check.Errors(data)[0]
    throw new TypeError(`invalid ${event} payload: ${first?.instancePath || '/'} ${first?.message ?? ''}`.trim())
  }
  return JSON.stringify({ event, data })
}
