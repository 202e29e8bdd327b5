// The settings more than one process reads, each defined once, and the one loader every entry point
// uses (API, worker pool, worker process, migrator, start script). Each app composes the groups it
// needs into its own EnvSchema, so a shared setting has the same default and limits everywhere.
import envSchema from 'env-schema'
import { Type, type Static, type TObject } from 'typebox'
import { DEFAULT_REDIS_PREFIX } from './events.ts'

/** The local PostgreSQL database every process uses when DATABASE_URL is unset. */
export const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/wss'

/** PostgreSQL: where everything that must last is kept. */
export const DatabaseSettingsSchema = Type.Object({
  DATABASE_URL: Type.String({ pattern: '^postgres(ql)?://', default: DEFAULT_DATABASE_URL }),
  DB_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 200, default: 10, description: 'Connections in each process\'s database pool' }),
  DB_IDLE_IN_TRANSACTION_MS: Type.Integer({ minimum: 0, default: 60000, description: 'Postgres ends a connection idle inside a transaction this long (a frozen process\'s row locks); 0 = not asked for, e.g. behind PgBouncer, which refuses the startup parameter: use its idle_transaction_timeout' })
})

/** Redis: queues, leases, events, rate-limit counters. */
export const RedisSettingsSchema = Type.Object({
  REDIS_URL: Type.String({ pattern: '^rediss?(\\+cluster)?://', default: 'redis://127.0.0.1:6379', description: 'One server (redis://, rediss://) or a Redis Cluster (redis+cluster://host:port,host:port, rediss+cluster://)' }),
  REDIS_PREFIX: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$', default: DEFAULT_REDIS_PREFIX, description: 'Key prefix: several deployments can share one Redis' })
})

/** How any long-running process logs and stops. */
export const ProcessSettingsSchema = Type.Object({
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 15000, description: 'The one grace timeout of a shutdown; past it the process exits anyway' })
})

/** Starting a session: the API waits for the worker, the worker for WhatsApp. */
export const SessionStartSettingsSchema = Type.Object({
  START_WAIT_MS: Type.Integer({ minimum: 0, default: 10000, description: 'How long a start waits for a pairing code, a QR or the connection before answering' })
})

/** Prometheus scraping, on the API's port and the workers' METRICS_PORT. */
export const MetricsSettingsSchema = Type.Object({
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, maxLength: 1024, description: 'Bearer token a scraper must present at /metrics; unset: no metrics endpoint' }))
})

/** Webhooks: the API checks endpoint URLs at creation, the workers again at each delivery. */
export const WebhookSettingsSchema = Type.Object({
  WEBHOOK_ALLOW_PRIVATE: Type.Boolean({ default: false, description: 'Allow webhook endpoints on private, loopback and link-local addresses (tests, a receiver inside the network)' })
})

/** The audience cap: the API checks requests against it, the workers a status's resolved audience. */
export const AudienceSettingsSchema = Type.Object({
  MAX_AUDIENCE: Type.Integer({ minimum: 1, maximum: 100000, default: 5000, description: 'At most this many numbers in targetNumbers, audience.except and a saved list; a status whose audience resolves to more distinct numbers besides the own number (counted before those not on WhatsApp are dropped) fails with AUDIENCE_TOO_LARGE' })
})

/** Read by `scripts/start.mjs` only: the bundled simulator instead of WhatsApp. */
export const SandboxSettingsSchema = Type.Object({
  SANDBOX: Type.Enum(['0', '1', 'false', 'true'], { default: '0' }),
  WA_SIM_PORT: Type.Integer({ minimum: 1, maximum: 65535, default: 7780 })
})

/** A bad setting; the message names the variable and never echoes its value. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  constructor (readonly variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`)
  }
}

interface AjvLikeError { instancePath: string, message?: string, params: Record<string, unknown> }

function describe (error: AjvLikeError): ConfigError {
  const missing = error.params.missingProperty
  if (typeof missing === 'string') return new ConfigError(missing, 'is required')
  const variable = error.instancePath.replace(/^\//, '') || 'environment'
  return new ConfigError(variable, error.message ?? 'is invalid')
}

// An empty variable (`PORT=` in a compose file, `export WA_WS_URL=`) means "unset", not "coerce '' to 0".
function withoutEmpty (env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value.trim() !== '') out[key] = value
  }
  return out
}

/**
 * Parses `env` against `schema` (defaults applied, numbers coerced, empty values unset, unknown
 * variables dropped); throws a {@link ConfigError} naming the first bad variable.
 */
export function loadSettings<T extends TObject> (schema: T, env: Record<string, string | undefined>): Static<T> {
  try {
    // env: false, or env-schema merges process.env back in, empty values included. It also
    // mutates the schema it is given (additionalProperties), hence the copy.
    return envSchema<Static<T>>({ schema: structuredClone(schema), data: withoutEmpty(env), env: false, dotenv: false })
  } catch (err) {
    const first = (err as { errors?: AjvLikeError[] }).errors?.[0]
    if (first !== undefined) throw describe(first)
    throw err
  }
}

/** For entry points: runs `load`, and on a {@link ConfigError} prints its one line and exits with 1. */
export function loadOrExit<T> (load: () => T): T {
  try {
    return load()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(err.message)
    process.exit(1)
  }
}
