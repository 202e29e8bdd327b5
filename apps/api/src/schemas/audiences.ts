import { Type, type Static } from 'typebox'
import { SessionIdSchema } from '@wss/shared'
import { TargetNumbersSchema } from './statuses.ts'

const NameSchema = Type.String({ minLength: 1, maxLength: 100, description: '1–100 characters, unique in the session (surrounding spaces are trimmed)' })
const NumbersSchema = {
  ...TargetNumbersSchema,
  description: 'Numbers with their country code (comma-separated, or an array); normalised to digits, duplicates removed, at most `MAX_AUDIENCE`'
}

/** A saved audience list of a session (addition). */
export const AudienceListSchema = Type.Object({
  id: Type.String({ format: 'uuid', description: 'Pass it as `audience: { "type": "list", "id": … }`' }),
  sessionId: SessionIdSchema,
  name: Type.String(),
  numbers: Type.Array(Type.String(), { description: 'Digits, country code first' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' })
})
export type AudienceListView = Static<typeof AudienceListSchema>

/** Body of `POST /api/sessions/:sessionId/audiences`. */
export const CreateAudienceListBodySchema = Type.Object({
  name: NameSchema,
  numbers: NumbersSchema
}, { additionalProperties: false })
export type CreateAudienceListBody = Static<typeof CreateAudienceListBodySchema>

/** Body of `PATCH /api/sessions/:sessionId/audiences/:listId`: what is given replaces what was. */
export const UpdateAudienceListBodySchema = Type.Object({
  name: Type.Optional(NameSchema),
  numbers: Type.Optional(NumbersSchema)
}, { additionalProperties: false, minProperties: 1 })
export type UpdateAudienceListBody = Static<typeof UpdateAudienceListBodySchema>

export const AudienceListParamsSchema = Type.Object({
  sessionId: SessionIdSchema,
  listId: Type.String({ minLength: 1, maxLength: 128, description: 'The list id (a UUID; anything else is simply not found)' })
})

/** Answer of `DELETE /api/sessions/:sessionId/audiences/:listId`. */
export const AudienceListDeletedSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  deleted: Type.Literal(true)
})
