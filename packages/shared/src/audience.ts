import { Type, type Static } from 'typebox'
import { Compile } from 'typebox/compile'

/** A saved audience list's id (a UUID the API chose). */
export const AUDIENCE_LIST_ID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

/**
 * Who a status goes to besides `targetNumbers` (addition): the session's address-book contacts
 * (`except` some), or a saved list of the session by id. Resolved by the worker when the status is
 * sent, so a scheduled status reaches the contacts the session has when it is due.
 */
export const AudienceSpecSchema = Type.Object({
  type: Type.Enum(['contacts', 'list'], { description: '`contacts`: every contact saved in the phone\'s address book; `list`: a saved audience list of the session' }),
  except: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), {
    maxItems: 100_000,
    description: '`contacts` only: numbers left out (country code first; spaces, dashes, parentheses and a leading `+` are stripped)'
  })),
  id: Type.Optional(Type.String({ pattern: AUDIENCE_LIST_ID_PATTERN, description: '`list` only: the id `POST /api/sessions/:sessionId/audiences` answered' }))
}, { additionalProperties: false })
export type AudienceSpec = Static<typeof AudienceSpecSchema>

const checkSpec = Compile(AudienceSpecSchema)

/** Reads a stored audience (`statuses.audience_spec`): the spec when it is one, else null. */
export function parseAudienceSpec (value: unknown): AudienceSpec | null {
  if (value === null || value === undefined || !checkSpec.Check(value)) return null
  const spec = value as AudienceSpec
  if (spec.type === 'list' && spec.id === undefined) return null
  return spec
}

/** The reason a status fails with when its audience is over MAX_AUDIENCE (`AUDIENCE_TOO_LARGE`). */
export const audienceTooLargeReason = (count: number, max: number) =>
  `the audience resolved to ${count} recipients besides the own number; at most ${max} (MAX_AUDIENCE) are allowed`

/** The reason a status fails with when its saved list was deleted before the send (`AUDIENCE_LIST_NOT_FOUND`). */
export const audienceListGoneReason = (listId: string) => `the audience list ${listId} was deleted before the status was sent`

/**
 * The code a failed status is answered with again (an idempotent retry, a send of a failed status):
 * the audience's own codes for their reasons, else `WHATSAPP_REFUSED`.
 */
export function failedStatusCode (error: string | null): 'AUDIENCE_TOO_LARGE' | 'AUDIENCE_LIST_NOT_FOUND' | 'WHATSAPP_REFUSED' {
  if (error === null) return 'WHATSAPP_REFUSED'
  if (/^the audience resolved to \d+ recipients besides the own number; at most \d+ \(MAX_AUDIENCE\)/.test(error)) return 'AUDIENCE_TOO_LARGE'
  if (/^the audience list \S+ was deleted before the status was sent$/.test(error)) return 'AUDIENCE_LIST_NOT_FOUND'
  return 'WHATSAPP_REFUSED'
}
