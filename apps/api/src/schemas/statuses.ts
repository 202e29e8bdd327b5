import { Type, type Static } from 'typebox'
import { AudienceSpecSchema, ListQuerySchema, SessionIdSchema, StatusIdSchema, StatusStateSchema, StatusTypeSchema } from '@wss/shared'

const ScheduledAtSchema = Type.String({
  format: 'date-time',
  description: 'ISO 8601 with a time zone, in the future and at most 30 days ahead: the status is kept `scheduled` and sent then (addition)',
  examples: ['2026-12-24T18:00:00Z']
})

/** A list of numbers: a comma-separated string or an array (`targetNumbers`, a saved list's `numbers`). */
export const TargetNumbersSchema = Type.Union([
  Type.String({ maxLength: 1_000_000, description: 'Comma-separated numbers' }),
  Type.Array(Type.String({ maxLength: 32 }), { maxItems: 50_000 })
], { description: 'Audience; empty or absent means your own number only. Your own number is always added.' })

const AudienceSchema = {
  ...AudienceSpecSchema,
  description: 'Instead of or beside `targetNumbers` (addition): `{ "type": "contacts" }` (every contact saved in the phone\'s ' +
    'address book), `{ "type": "contacts", "except": [numbers] }`, or `{ "type": "list", "id": listId }` (a saved list of this ' +
    'session). Resolved when the status is sent: own number + contacts or list + `targetNumbers`, duplicates removed, ' +
    'numbers not on WhatsApp dropped and counted in `skipped`.'
}

/** Body of `POST /api/sessions/:sessionId/send-status`. */
export const SendStatusBodySchema = Type.Object({
  type: StatusTypeSchema,
  content: Type.String({
    minLength: 1,
    maxLength: 65536,
    description: 'Text (text), an uploaded filename or an http(s) media URL (image, video), a filename from upload-audio (audio), a link (url)'
  }),
  caption: Type.Optional(Type.String({ maxLength: 4096, description: 'image and video only' })),
  targetNumbers: Type.Optional(TargetNumbersSchema),
  backgroundColor: Type.Optional(Type.String({ pattern: '^#[0-9A-Fa-f]{6}$', description: 'text and url only: `#rrggbb`', examples: ['#25d366'] })),
  font: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, description: 'text and url only' })),
  scheduledAt: Type.Optional(ScheduledAtSchema),
  audience: Type.Optional(AudienceSchema)
})
export type SendStatusBody = Static<typeof SendStatusBodySchema>

/** Body of `POST /api/statuses` (addition): a status's fields, and the sessions that post it. */
export const MultiPostBodySchema = Type.Object({
  ...SendStatusBodySchema.properties,
  sessionIds: Type.Union([
    // No `type` keyword: the validator coerces lone values and one-item arrays into each other,
    // which would read ["all"] (a session named "all") as every session.
    Type.Unsafe<'all'>({ enum: ['all'], description: 'Every session the API key may use that is connected now' }),
    Type.Array(SessionIdSchema, { minItems: 1, maxItems: 1000 })
  ], { description: '`"all"`, or the session ids (at most 1000) that each post the status' })
})
export type MultiPostBody = Static<typeof MultiPostBodySchema>

/** Answer of `POST /api/statuses`: one status per session. */
export const MultiPostResultSchema = Type.Object({
  statuses: Type.Array(Type.Object({
    sessionId: SessionIdSchema,
    id: StatusIdSchema,
    state: StatusStateSchema,
    error: Type.Optional(Type.String({ description: 'Why a `failed` one failed, e.g. its send could not be queued' }))
  }), { description: 'One status per session, each with its own lifecycle and events (`status-sent`, `status-failed`, …)' })
})

/**
 * Body of `PATCH /api/sessions/:sessionId/statuses/:statusId` (addition): what changes in a
 * scheduled status; a field left out keeps its value, `null` clears an optional one. Null comes
 * first in each union: the validator coerces types, and would turn a null into 0 or ''.
 */
export const PatchStatusBodySchema = Type.Object({
  scheduledAt: Type.Optional(ScheduledAtSchema),
  content: Type.Optional(Type.String({ minLength: 1, maxLength: 65536 })),
  caption: Type.Optional(Type.Union([Type.Null(), Type.String({ maxLength: 4096 })], { description: 'image and video only' })),
  targetNumbers: Type.Optional(TargetNumbersSchema),
  backgroundColor: Type.Optional(Type.Union([Type.Null(), Type.String({ pattern: '^#[0-9A-Fa-f]{6}$' })], { description: 'text and url only' })),
  font: Type.Optional(Type.Union([Type.Null(), Type.Integer({ minimum: 0, maximum: 10 })], { description: 'text and url only' })),
  audience: Type.Optional(Type.Union([Type.Null(), AudienceSpecSchema], { description: 'A new audience (as in send-status); `null`: `targetNumbers` only' }))
}, { minProperties: 1 })
export type PatchStatusBody = Static<typeof PatchStatusBodySchema>

/** Query of the statuses list: paging, and `state` (addition). */
export const StatusListQuerySchema = Type.Object({
  ...ListQuerySchema.properties,
  state: Type.Optional({ ...StatusStateSchema, description: 'Only statuses in this state. `scheduled` lists every scheduled status, soonest first, whatever its age; without `state`, scheduled and cancelled statuses are left out of the 24-hour list (addition)' })
})

/** Headers of `send-status`. */
export const SendStatusHeadersSchema = Type.Object({
  'idempotency-key': Type.Optional(Type.String({
    minLength: 1,
    maxLength: 255,
    description: 'A retry with the same key (per session) returns the first request\'s status instead of posting again'
  }))
})
