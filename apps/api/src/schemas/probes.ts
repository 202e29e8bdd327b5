import { Type } from 'typebox'

/** Answer of GET /healthz. */
export const HealthzSchema = Type.Object({ status: Type.Literal('ok') })

const CheckStateSchema = Type.Enum(['ok', 'down'])

/** Answer of GET /readyz, 200 or 503; `checks` names what is down. */
export const ReadyzSchema = Type.Object({
  status: Type.Enum(['ready', 'unavailable', 'shutting_down']),
  checks: Type.Object({ database: CheckStateSchema, redis: CheckStateSchema })
})
