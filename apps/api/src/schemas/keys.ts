import { Type, type Static } from 'typebox'

/** A session id, or a prefix followed by `*` (`acme-*`). */
export const SessionPatternSchema = Type.String({
  pattern: '^[A-Za-z0-9_-]{1,64}\\*?$',
  description: 'A session id, or a prefix ending in `*` (`acme-*` covers every id starting with `acme-`)'
})

export const KeyScopeSchema = Type.Object({
  sessions: Type.Union([
    // No `type` keyword: the app's validator coerces between lone values and one-item arrays
    // (`coerceTypes: 'array'`), which would read ["all"] (a session named "all") as every session.
    Type.Unsafe<'all' | '*'>({ enum: ['all', '*'], description: '`all` (or `*`, answered as `all`): every session' }),
    Type.Array(SessionPatternSchema, { minItems: 1, maxItems: 100, uniqueItems: true })
  ], { description: '`all` (or `*`), or at most 100 session ids and `prefix*` patterns' }),
  access: Type.Enum(['read', 'write'], { description: '`read`: GET only (and the event streams); `write`: everything on its sessions' })
}, { additionalProperties: false })

/** Body of `POST /api/keys`. */
export const CreateKeyBodySchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200, description: 'What the key is for; shown in lists' }),
  scope: KeyScopeSchema
}, { additionalProperties: false })
export type CreateKeyBody = Static<typeof CreateKeyBodySchema>

/** A scoped key as lists show it: never the key or its hash. */
export const ApiKeySchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  scope: KeyScopeSchema,
  createdAt: Type.String({ format: 'date-time' })
})
export type ApiKeyView = Static<typeof ApiKeySchema>

/** Answer of `POST /api/keys`: the key itself, shown this once. */
export const CreatedApiKeySchema = Type.Object({
  ...ApiKeySchema.properties,
  key: Type.String({ description: 'The key (`wss_…`): send it as `x-api-key` or `Authorization: Bearer`. Shown only here; only its SHA-256 is stored.' })
})

export const KeyIdParamsSchema = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 128, description: 'The key id (a UUID; anything else is simply not found)' })
})

/** Answer of `DELETE /api/keys/:id`. */
export const KeyRevokedSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  revoked: Type.Literal(true)
})
