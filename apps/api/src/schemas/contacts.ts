import { Type, type Static } from 'typebox'
import { ListQuerySchema } from '@wss/shared'

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()])

/** One contact of a session, as the linked phone and WhatsApp describe it. */
export const ContactSchema = Type.Object({
  number: Type.String({ description: 'The contact\'s phone number, digits only' }),
  lid: Nullable(Type.String({ description: 'The contact\'s LID (user part), once WhatsApp named it' })),
  name: Nullable(Type.String({ description: 'The name saved in the phone\'s address book; null when it is not saved there' })),
  pushName: Nullable(Type.String({ description: 'The name the contact gave itself on WhatsApp' })),
  inAddressBook: Type.Boolean({ description: 'Saved in the phone\'s address book (what `audience: { type: "contacts" }` reaches)' }),
  updatedAt: Type.String({ format: 'date-time', description: 'When any of these fields last changed' })
}, { additionalProperties: false })
export type Contact = Static<typeof ContactSchema>

/** Query of `GET /api/sessions/:sessionId/contacts`. */
export const ContactListQuerySchema = Type.Object({
  ...ListQuerySchema.properties,
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Case-insensitive search in the name, the push name and (its digits) the number' })),
  updatedSince: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'ISO 8601 time: only contacts changed at or after it' })),
  inAddressBook: Type.Optional(Type.Boolean({ description: 'Only contacts saved (true) or not saved (false) in the phone\'s address book' }))
})
export type ContactListQuery = Static<typeof ContactListQuerySchema>
