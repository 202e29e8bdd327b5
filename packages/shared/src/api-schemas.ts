import { Type, type Static, type TSchema } from 'typebox'
import { AudienceSpecSchema, parseAudienceSpec } from './audience.ts'

/** Pattern every session id must match (API.md, "Sessions"). */
export const SESSION_ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$'

/** A session id as it appears in paths, bodies and event payloads. */
export const SessionIdSchema = Type.String({
  pattern: SESSION_ID_PATTERN,
  description: 'Letters, digits, `_` and `-`, 1–64 characters',
  examples: ['shop-1']
})

/** Path parameters of every `/api/sessions/:sessionId/...` route. */
export const SessionIdParamsSchema = Type.Object({ sessionId: SessionIdSchema })
export type SessionIdParams = Static<typeof SessionIdParamsSchema>

/** A status id; the API chooses it, so it is only bounded, not patterned. */
export const StatusIdSchema = Type.String({ minLength: 1, maxLength: 128 })

/** Path parameters of every `/api/sessions/:sessionId/statuses/:statusId...` route. */
export const StatusIdParamsSchema = Type.Object({ sessionId: SessionIdSchema, statusId: StatusIdSchema })
export type StatusIdParams = Static<typeof StatusIdParamsSchema>

/** How a session links to WhatsApp. */
export const AuthMethodSchema = Type.Enum(['pairing', 'qrcode'])
export type AuthMethod = Static<typeof AuthMethodSchema>

/** Lifecycle state of a session. */
export const SessionStateSchema = Type.Enum([
  'connecting',
  'awaiting_pairing',
  'awaiting_qr',
  'connected',
  'disconnected',
  'logged_out'
])
export type SessionState = Static<typeof SessionStateSchema>

const NullableString = (options: { description?: string } = {}) =>
  Type.Union([Type.String(), Type.Null()], options)

/** Session object returned by the sessions routes. */
export const SessionSchema = Type.Object({
  sessionId: SessionIdSchema,
  sessionName: Type.String(),
  authMethod: AuthMethodSchema,
  state: SessionStateSchema,
  connected: Type.Boolean(),
  pairingCode: NullableString(),
  qrCode: NullableString({ description: '`data:image/png;base64,...` URL' }),
  phoneNumber: NullableString({ description: 'Digits only, country code first' }),
  ownNumber: NullableString({ description: 'The number WhatsApp reports once connected' }),
  lastError: NullableString(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' })
})
export type Session = Static<typeof SessionSchema>

/** Kind of a status post. */
export const StatusTypeSchema = Type.Enum(['text', 'image', 'video', 'url', 'audio'])
export type StatusType = Static<typeof StatusTypeSchema>

/** Delivery state of a status post. */
export const StatusStateSchema = Type.Enum(['pending', 'sent', 'failed', 'deleted', 'scheduled', 'cancelled'])
export type StatusState = Static<typeof StatusStateSchema>

/** Status object returned by the statuses routes. */
export const StatusSchema = Type.Object({
  id: StatusIdSchema,
  sessionId: SessionIdSchema,
  type: StatusTypeSchema,
  content: Type.String(),
  caption: NullableString(),
  targetNumbers: Type.Array(Type.String(), { description: 'The audience as requested (the own number is always added on send)' }),
  backgroundColor: Type.Optional(NullableString()),
  font: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 10 }), Type.Null()])),
  state: StatusStateSchema,
  error: NullableString(),
  sentAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  viewCount: Type.Integer({ minimum: 0 }),
  scheduledAt: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'When a scheduled status is (or was) due; null when it was sent at once (addition)' })),
  audience: Type.Optional(Type.Union([AudienceSpecSchema, Type.Null()], { description: 'The audience as requested (`contacts`, `except` normalised, or a saved `list`); null: `targetNumbers` only (addition)' })),
  audienceSize: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'Recipients the status was sent to, the own number included; null until it is sent (addition)' })),
  skipped: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'With `audience`: numbers dropped when it was sent because they are not on WhatsApp; null until then, and without `audience` (addition)' }))
})
export type Status = Static<typeof StatusSchema>

/** What {@link toStatus} reads of a stored status (a `statuses` row). */
export interface StatusRecord {
  id: string
  sessionId: string
  type: StatusType
  content: string
  caption: string | null
  targetNumbers: string[]
  backgroundColor: string | null
  font: number | null
  state: StatusState
  error: string | null
  sentAt: Date | null
  expiresAt: Date | null
  scheduledAt?: Date | null
  /** The requested audience (`statuses.audience_spec`), JSON as stored. */
  audienceSpec?: unknown
  audienceSize?: number | null
  skipped?: number | null
}

/** The API's status object of a stored status: what the routes answer, the worker replies and `status-sent` carries. */
export function toStatus (row: StatusRecord, viewCount: number): Status {
  return {
    id: row.id,
    sessionId: row.sessionId,
    type: row.type,
    content: row.content,
    caption: row.caption,
    targetNumbers: row.targetNumbers,
    backgroundColor: row.backgroundColor,
    font: row.font,
    state: row.state,
    error: row.error,
    sentAt: row.sentAt?.toISOString() ?? null,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    viewCount,
    scheduledAt: row.scheduledAt?.toISOString() ?? null,
    audience: parseAudienceSpec(row.audienceSpec),
    audienceSize: row.audienceSize ?? null,
    skipped: row.skipped ?? null
  }
}

/** One viewer of a status. */
export const ViewerSchema = Type.Object({
  viewerNumber: Type.String(),
  viewedAt: Type.String({ format: 'date-time' })
})
export type Viewer = Static<typeof ViewerSchema>

/** Answer of `POST /api/upload-image` and `POST /api/upload-video`. */
export const UploadResultSchema = Type.Object({
  filename: Type.String({ examples: ['1730000000-ab12.jpg'] }),
  size: Type.Integer({ minimum: 0 }),
  mimeType: Type.String({ examples: ['image/jpeg'] }),
  seconds: Type.Optional(Type.Integer({ minimum: 0, description: 'Audio only: the voice note\'s length in whole seconds (addition)' })),
  waveform: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 100 }), {
    minItems: 64,
    maxItems: 64,
    description: 'Audio only: the loudness over the voice note, 64 values 0–100, as WhatsApp draws it (addition)'
  }))
})
export type UploadResult = Static<typeof UploadResultSchema>

/** Optional pagination of list routes (`limit`, `cursor`); without them a list is whole. */
export const ListQuerySchema = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 }))
})
export type ListQuery = Static<typeof ListQuerySchema>

/** Success envelope `{ success: true, data }` around a payload schema. */
export function Ok<T extends TSchema> (data: T) {
  return Type.Object({ success: Type.Literal(true), data })
}

/** One field-level problem reported with a `VALIDATION` error. */
export const ValidationIssueSchema = Type.Object({
  field: Type.String({ description: 'Where the problem is, e.g. `body.phoneNumber`' }),
  message: Type.String()
})
export type ValidationIssue = Static<typeof ValidationIssueSchema>

/** Error envelope `{ success: false, error, code?, details? }` shared by every route. */
export const ErrorEnvelopeSchema = Type.Object({
  success: Type.Literal(false),
  error: Type.String({ description: 'Human readable message' }),
  code: Type.Optional(Type.String({ description: 'Stable machine code, e.g. `SESSION_NOT_FOUND`' })),
  details: Type.Optional(Type.Unknown({ description: 'For `VALIDATION`: a list of `{ field, message }`' }))
})
export type ErrorEnvelope = Static<typeof ErrorEnvelopeSchema>

/** Error envelope schema under the name the routes read best with. */
export const ErrorEnvelope = ErrorEnvelopeSchema

const PHONE_DIGITS = /^\d{10,15}$/

/**
 * Normalises a phone number to its digits (country code first): strips spaces, dashes,
 * parentheses and one leading `+`, then requires 10–15 digits. Returns null when invalid.
 */
export function normalizePhoneNumber (input: string): string | null {
  if (typeof input !== 'string') return null
  let s = input.replace(/[\s\-()]/g, '')
  if (s.startsWith('+')) s = s.slice(1)
  return PHONE_DIGITS.test(s) ? s : null
}
