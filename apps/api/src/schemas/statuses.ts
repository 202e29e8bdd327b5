import { Type, type Static } from 'typebox'
import { StatusTypeSchema } from '@wss/shared'

/** Body of `POST /api/sessions/:sessionId/send-status`. */
export const SendStatusBodySchema = Type.Object({
  type: StatusTypeSchema,
  content: Type.String({
    minLength: 1,
    maxLength: 65536,
    description: 'Text (text), an uploaded filename or an http(s) media URL (image, video), a filename from upload-audio (audio), a link (url)'
  }),
  caption: Type.Optional(Type.String({ maxLength: 4096, description: 'image and video only' })),
  targetNumbers: Type.Optional(Type.Union([
    Type.String({ maxLength: 1_000_000, description: 'Comma-separated numbers' }),
    Type.Array(Type.String({ maxLength: 32 }), { maxItems: 50_000 })
  ], { description: 'Audience; empty or absent means your own number only. Your own number is always added.' })),
  backgroundColor: Type.Optional(Type.String({ pattern: '^#[0-9A-Fa-f]{6}$', description: 'text and url only: `#rrggbb`', examples: ['#25d366'] })),
  font: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, description: 'text and url only' }))
})
export type SendStatusBody = Static<typeof SendStatusBodySchema>

/** Headers of `send-status`. */
export const SendStatusHeadersSchema = Type.Object({
  'idempotency-key': Type.Optional(Type.String({
    minLength: 1,
    maxLength: 255,
    description: 'A retry with the same key (per session) returns the first request\'s status instead of posting again'
  }))
})
