import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { Type, type Static } from 'typebox'
import {
  AudienceSettingsSchema, ConfigError, DatabaseSettingsSchema, MetricsSettingsSchema, ProcessSettingsSchema, RedisSettingsSchema, SessionStartSettingsSchema, WebhookSettingsSchema, loadSettings
} from '@wss/shared/settings'
import { WATCHDOG_MIN_MS, watchdogBoundMs } from './ownership/lease-timing.ts'

/** Every setting the worker reads, with its default. Parsed once at boot by {@link loadConfig}. */
export const EnvSchema = Type.Object({
  ...DatabaseSettingsSchema.properties,
  ...RedisSettingsSchema.properties,
  ...ProcessSettingsSchema.properties,
  ...SessionStartSettingsSchema.properties,
  ...MetricsSettingsSchema.properties,
  ...WebhookSettingsSchema.properties,
  ...AudienceSettingsSchema.properties,
  METRICS_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 9464, description: 'Port of the pool\'s /metrics (all its processes aggregated), or of a standalone worker process; 0 = off' }),
  WORKER_ID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'Unique per process; generated when unset' })),
  WA_WS_URL: Type.Optional(Type.String({ pattern: '^wss?://', description: 'WhatsApp WebSocket URL (unset: real WhatsApp)' })),
  WA_TRUST_ROOT: Type.Optional(Type.String({ minLength: 40, description: 'Base64 root public key of the WhatsApp server certificate chain (unset: real WhatsApp)' })),
  WA_MEDIA_CA: Type.Optional(Type.String({ minLength: 1, description: 'PEM text, or the path of a PEM file, trusted for media uploads' })),
  LEASE_TTL_MS: Type.Integer({ minimum: 2000, default: 8000 }),
  COMMAND_CONCURRENCY: Type.Integer({ minimum: 1, default: 32 }),
  CONNECT_CONCURRENCY: Type.Integer({ minimum: 1, default: 64, description: 'WhatsApp connection attempts (socket opened, not yet open) one worker process has in flight; other sessions wait their turn (a failover or restart connects thousands at once)' }),
  SWEEP_INTERVAL_MS: Type.Integer({ minimum: 200, default: 2000 }),
  SEND_MIN_INTERVAL_MS: Type.Integer({ minimum: 0, default: 3000, description: 'Minimum time between two statuses of one session (ban risk)' }),
  SEND_JITTER_MS: Type.Integer({ minimum: 0, default: 2000 }),
  STATUS_CHUNK_SIZE: Type.Integer({ minimum: 1, default: 500, description: 'Recipients per stanza of one status' }),
  ACK_TIMEOUT_MS: Type.Integer({ minimum: 1000, default: 20000 }),
  RECONNECT_BASE_MS: Type.Integer({ minimum: 10, default: 1000 }),
  RECONNECT_MAX_MS: Type.Integer({ minimum: 100, default: 60000 }),
  PAIRING_MAX_ATTEMPTS: Type.Integer({ minimum: 1, default: 5, description: 'Fresh codes/QRs before an unlinked session stops' }),
  SCHEDULE_GRACE_MINUTES: Type.Number({ minimum: 0, default: 60, description: 'A scheduled status whose session is not connected when due is retried this long, then marked failed' }),
  RETENTION_DAYS: Type.Number({ exclusiveMinimum: 0, default: 30 }),
  ANALYTICS_RETENTION_DAYS: Type.Number({ exclusiveMinimum: 0, default: 400, description: 'Days the daily analytics rollups are kept, after RETENTION_DAYS deleted the raw statuses and viewers' }),
  MAINTENANCE_INTERVAL_MS: Type.Integer({ minimum: 5000, default: 600000, description: 'How often one worker of the deployment deletes what outlived the retention' }),
  FETCH_ALLOW_PRIVATE: Type.Boolean({ default: false, description: 'Allow media/preview fetches to private, loopback and link-local addresses' }),
  FETCH_MAX_MB: Type.Number({ exclusiveMinimum: 0, default: 16 }),
  FETCH_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 15000 }),
  KEY_CACHE_MAX: Type.Integer({ minimum: 100, default: 50000 }),
  WEBHOOK_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 1000, default: 20, description: 'Webhook deliveries sent at once by each worker process' }),
  WEBHOOK_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10000, description: 'A webhook receiver that has not answered in this time is a failed attempt' }),
  WEBHOOK_RETRY_SCHEDULE_MS: Type.String({ pattern: '^\\d+(,\\d+)*$', default: '5000,300000,1800000,7200000,18000000,36000000,36000000', description: 'Delays before each retry of a failed delivery, comma-separated milliseconds (each jittered by up to 20 %)' }),
  WEBHOOK_DISABLE_AFTER_MS: Type.Integer({ minimum: 0, default: 432000000, description: 'An endpoint whose every attempt has failed for this long is disabled (webhook-disabled event)' }),
  WATCHDOG_MS: Type.Optional(Type.Integer({ minimum: 0, description: 'A process whose event loop is frozen this long kills itself to be restarted (unset: the longest that still beats the lease, see watchdogMs; 0: off, e.g. to pause in a debugger)' })),
  WORKER_PROCESSES: Type.Optional(Type.Integer({ minimum: 1, maximum: 256, description: 'Processes started by the pool, `main.ts` (default: one per CPU core)' })),
  WORKER_HEALTH_FILE: Type.String({ minLength: 1, default: '/tmp/wss-worker-healthy', description: 'Touched every 5 s while this process holds a valid lease (container health check)' })
})
export type WorkerConfig = Static<typeof EnvSchema> & { WORKER_ID: string, WATCHDOG_MS: number }

/** Parses the environment once; throws a `ConfigError` naming the first bad variable (never echoing its value). */
export function loadConfig (env: Record<string, string | undefined> = process.env): WorkerConfig {
  const parsed = loadSettings(EnvSchema, env)
  return {
    ...parsed,
    WORKER_ID: parsed.WORKER_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    WATCHDOG_MS: watchdogMs(parsed.WATCHDOG_MS, parsed.LEASE_TTL_MS)
  }
}

/**
 * The watchdog's timeout: a frozen worker cannot fence itself, so the watchdog must kill it before
 * its lease lapses and another worker connects its sessions. Unset, the longest timeout that does;
 * a configured one above that is refused.
 */
function watchdogMs (configured: number | undefined, leaseTtlMs: number): number {
  if (configured === 0) return 0
  const bound = watchdogBoundMs(leaseTtlMs)
  if (bound < WATCHDOG_MIN_MS) {
    throw new ConfigError('LEASE_TTL_MS', 'is too short for the watchdog to kill a frozen worker before its lease lapses: raise it, or set WATCHDOG_MS=0')
  }
  if (configured === undefined) return bound
  if (configured < WATCHDOG_MIN_MS || configured > bound) {
    throw new ConfigError('WATCHDOG_MS', `must be 0 (off) or between ${WATCHDOG_MIN_MS} and ${bound}: longer, a frozen worker outlives its lease (LEASE_TTL_MS) and another worker connects its sessions while it holds them`)
  }
  return configured
}
