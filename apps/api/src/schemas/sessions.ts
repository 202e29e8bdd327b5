import { Type, type Static } from 'typebox'
import { AuthMethodSchema, SessionIdSchema, SessionStateSchema } from '@wss/shared'

const NullableString = (description?: string) => Type.Union([Type.String(), Type.Null()], description === undefined ? {} : { description })

/** Body of `POST /api/sessions`. */
export const CreateSessionBodySchema = Type.Object({
  sessionId: SessionIdSchema,
  sessionName: Type.String({ minLength: 1, maxLength: 200 }),
  authMethod: Type.Optional(Type.Enum(['pairing', 'qrcode'], { default: 'pairing', description: '`pairing` (default) or `qrcode`' })),
  phoneNumber: Type.Optional(Type.String({
    maxLength: 32,
    description: 'Required for `pairing`: country code and number, 10–15 digits; `+`, spaces, dashes and parentheses are stripped',
    examples: ['+49 151 2345 6789']
  }))
})
export type CreateSessionBody = Static<typeof CreateSessionBodySchema>

/** Body of `PUT /api/sessions/:sessionId/phone-number`. */
export const PhoneNumberBodySchema = Type.Object({
  phoneNumber: Type.String({ maxLength: 32, examples: ['+49 151 2345 6789'] })
})

/** Answer of `GET /api/sessions/:sessionId/connection-status`. */
export const ConnectionStatusSchema = Type.Object({
  sessionId: SessionIdSchema,
  connected: Type.Boolean({ description: 'True only while the session is connected and its owner worker holds its lease' }),
  authMethod: AuthMethodSchema,
  state: SessionStateSchema,
  pairingCode: NullableString(),
  qrCode: NullableString('`data:image/png;base64,...` URL'),
  phoneNumber: NullableString(),
  ownNumber: NullableString(),
  lastError: NullableString()
})
export type ConnectionStatus = Static<typeof ConnectionStatusSchema>

/** Answer of the pairing-code routes. */
export const PairingCodeSchema = Type.Object({
  sessionId: SessionIdSchema,
  pairingCode: Type.String({ description: '8 characters, to type on the phone' }),
  phoneNumber: NullableString()
})
export type PairingCode = Static<typeof PairingCodeSchema>

/** Answer of `DELETE /api/sessions/:sessionId`. */
export const SessionDeletedSchema = Type.Object({
  sessionId: SessionIdSchema,
  deleted: Type.Literal(true)
})
