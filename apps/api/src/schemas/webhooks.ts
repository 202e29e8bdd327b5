import { Type, type Static } from 'typebox'
import { EVENT_NAMES, ListQuerySchema, SessionIdSchema } from '@wss/shared'

const Nullable = <T extends ReturnType<typeof Type.String> | ReturnType<typeof Type.Array>>(schema: T) => Type.Union([schema, Type.Null()])

const EventNamesSchema = Type.Array(Type.Enum([...EVENT_NAMES]), {
  minItems: 1,
  uniqueItems: true,
  description: 'Event names of the events stream (API.md, "Events"); omitted or null: every event'
})
const SessionIdsSchema = Type.Array(SessionIdSchema, {
  minItems: 1,
  maxItems: 100,
  uniqueItems: true,
  description: 'Only these sessions\' events; omitted or null: every session the key may see'
})
const UrlSchema = Type.String({ minLength: 1, maxLength: 2048, description: 'http(s) URL that receives the POSTs; private, loopback and link-local addresses are refused (unless WEBHOOK_ALLOW_PRIVATE)' })
const DescriptionSchema = Type.String({ maxLength: 500 })

/** Body of `POST /api/webhooks`. */
export const CreateWebhookBodySchema = Type.Object({
  url: UrlSchema,
  events: Type.Optional(Nullable(EventNamesSchema)),
  sessionIds: Type.Optional(Nullable(SessionIdsSchema)),
  description: Type.Optional(Nullable(DescriptionSchema))
}, { additionalProperties: false })
export type CreateWebhookBody = Static<typeof CreateWebhookBodySchema>

/** Body of `PATCH /api/webhooks/:id`: the fields to change. */
export const UpdateWebhookBodySchema = Type.Object({
  url: Type.Optional(UrlSchema),
  events: Type.Optional(Nullable(EventNamesSchema)),
  sessionIds: Type.Optional(Nullable(SessionIdsSchema)),
  description: Type.Optional(Nullable(DescriptionSchema)),
  enabled: Type.Optional(Type.Boolean({ description: 'false pauses deliveries; true resumes (and clears the reason the server disabled it)' }))
}, { additionalProperties: false, minProperties: 1 })
export type UpdateWebhookBody = Static<typeof UpdateWebhookBodySchema>

/** An endpoint as every answer shows it: never its secret. */
export const WebhookSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  url: Type.String(),
  events: Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'null: every event' }),
  sessionIds: Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'null: every session' }),
  description: Type.Union([Type.String(), Type.Null()]),
  enabled: Type.Boolean(),
  disabledReason: Type.Union([Type.Enum(['gone', 'failing']), Type.Null()], { description: 'Why the server disabled it: `gone` (the receiver answered 410) or `failing` (every attempt failed for WEBHOOK_DISABLE_AFTER_MS); null otherwise' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' })
})
export type WebhookView = Static<typeof WebhookSchema>

/** An endpoint with its secret: the answer of creation and of rotation only. */
export const WebhookWithSecretSchema = Type.Object({
  ...WebhookSchema.properties,
  secret: Type.String({ description: '`whsec_…`: verify deliveries with it (any Standard Webhooks library). Shown only here.' })
})

export const WebhookIdParamsSchema = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 128, description: 'The endpoint id (a UUID; anything else is simply not found)' })
})

export const DeliveryParamsSchema = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 128 }),
  deliveryId: Type.String({ minLength: 1, maxLength: 128 })
})

export const DeliveryStateSchema = Type.Enum(['pending', 'delivered', 'failed'])

export const DeliveriesQuerySchema = Type.Object({
  ...ListQuerySchema.properties,
  state: Type.Optional(DeliveryStateSchema)
})

/** One event for one endpoint, and what became of it. */
export const DeliverySchema = Type.Object({
  id: Type.String({ format: 'uuid', description: 'Also the `webhook-id` header of every attempt' }),
  event: Type.String({ description: 'The event name, or `webhook.test`' }),
  state: DeliveryStateSchema,
  attempts: Type.Integer({ minimum: 0 }),
  lastStatusCode: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  nextAttemptAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastAttemptAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  responseExcerpt: Type.Union([Type.String(), Type.Null()], { description: 'The first 1 KB of the last answer, as text' }),
  createdAt: Type.String({ format: 'date-time' })
})
export type DeliveryView = Static<typeof DeliverySchema>
