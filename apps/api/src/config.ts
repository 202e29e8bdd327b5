import { isIP } from 'node:net'
import { Type, type Static } from 'typebox'
import {
  AudienceSettingsSchema, ConfigError, DatabaseSettingsSchema, MetricsSettingsSchema, ProcessSettingsSchema, RedisSettingsSchema, SessionStartSettingsSchema, WebhookSettingsSchema, loadSettings
} from '@wss/shared/settings'

export { ConfigError }

/** Every setting the API reads, with its default. Parsed once at boot by {@link loadConfig}. */
export const EnvSchema = Type.Object({
  ...DatabaseSettingsSchema.properties,
  ...RedisSettingsSchema.properties,
  ...ProcessSettingsSchema.properties,
  ...SessionStartSettingsSchema.properties,
  ...MetricsSettingsSchema.properties,
  ...WebhookSettingsSchema.properties,
  ...AudienceSettingsSchema.properties,
  API_KEY: Type.String({ minLength: 1, description: 'Comma-separated list; any one of them is accepted (rotation)' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 300 }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1000, default: 900000 }),
  RATE_LIMIT_SYNC_MS: Type.Integer({ minimum: 0, maximum: 5000, default: 100, description: 'How often a node adds its counts to the shared ones in Redis; 0 = a Redis round trip per request' }),
  TRUST_PROXY: Type.String({ default: 'false', description: 'false | true | hop count | comma-separated IPs/CIDRs' }),
  MAX_UPLOAD_MB: Type.Number({ exclusiveMinimum: 0, maximum: 2048, default: 16 }),
  SEND_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 30000, description: 'How long send-status waits for the ack before answering 202' }),
  COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 15000, description: 'How long other commands wait for the worker before 504' }),
  UPLOAD_TTL_HOURS: Type.Number({ exclusiveMinimum: 0, default: 24, description: 'An upload no status used expires after this long' }),
  UPLOAD_QUOTA_MB: Type.Number({ exclusiveMinimum: 0, default: 512, description: 'MB one client address may upload within UPLOAD_TTL_HOURS' }),
  FFMPEG_PATH: Type.String({ minLength: 1, default: 'ffmpeg', description: 'The ffmpeg that converts audio uploads to voice notes (looked up in PATH)' }),
  FFPROBE_PATH: Type.String({ minLength: 1, default: 'ffprobe', description: 'The ffprobe (same package as ffmpeg) that reads the tracks of an MP4 audio upload branded as video (looked up in PATH)' }),
  AUDIO_MAX_SECONDS: Type.Integer({ minimum: 1, maximum: 900, default: 60, description: 'A longer audio upload is refused (413)' }),
  AUDIO_CONVERT_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600000, default: 30000, description: 'Each ffmpeg run of an audio upload is killed past this (413)' }),
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 1000, default: 300000, description: 'A request (headers and body) not received within this long is answered 408' }),
  CONNECTION_TIMEOUT_MS: Type.Integer({ minimum: 1000, default: 120000, description: 'An HTTP connection idle this long is closed; above SEND_TIMEOUT_MS' }),
  CORS_ORIGINS: Type.String({ default: '', description: 'Comma-separated origins allowed by CORS (https://app.example.com) or *; empty = no CORS headers' }),
  MAX_EVENT_CLIENTS: Type.Integer({ minimum: 1, default: 1000, description: 'Socket.IO and WebSocket event clients one node accepts together' }),
  // Queue dashboard (plugins/app/queue-board.ts): set but empty QUEUE_BOARD_PATH turns it off.
  QUEUE_BOARD_PATH: Type.String({ pattern: '^(/[A-Za-z0-9._~-]+)+$', default: '/admin/queues' }),
  QUEUE_BOARD_READ_ONLY: Type.Optional(Type.Boolean({ description: 'No retry, clean or remove; unset: true when NODE_ENV=production' })),
  QUEUE_BOARD_SESSION_HOURS: Type.Number({ exclusiveMinimum: 0, maximum: 720, default: 8 }),
  SESSION_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'Signs the dashboard cookie; unset: derived from API_KEY (HKDF)' })),
  GIT_REVISION: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'The build\'s git revision, reported by /api/health' }))
})
export type Env = Static<typeof EnvSchema>

/** What Fastify's `trustProxy` accepts, derived from TRUST_PROXY. */
export type TrustProxy = boolean | number | string[]

export interface Config extends Omit<Env, 'API_KEY' | 'QUEUE_BOARD_READ_ONLY'> {
  /** The accepted API keys, from API_KEY. */
  apiKeys: string[]
  trustProxy: TrustProxy
  /** The origins of CORS_ORIGINS; empty: no CORS. */
  corsOrigins: string[]
  /** Where the queue dashboard is served; null when QUEUE_BOARD_PATH is set but empty (off). */
  queueBoardPath: string | null
  /** QUEUE_BOARD_READ_ONLY, defaulted from NODE_ENV. */
  QUEUE_BOARD_READ_ONLY: boolean
}

/** A shorter key could be guessed within a rate-limit budget. */
export const MIN_API_KEY_LENGTH = 16

const PROXY_KEYWORDS = new Set(['loopback', 'linklocal', 'uniquelocal'])

function isAddressOrCidr (entry: string): boolean {
  if (PROXY_KEYWORDS.has(entry)) return true
  const [address, bits, ...rest] = entry.split('/')
  if (rest.length > 0 || address === undefined) return false
  const family = isIP(address)
  if (family === 0) return false
  if (bits === undefined) return true
  if (!/^\d{1,3}$/.test(bits)) return false
  return Number(bits) <= (family === 4 ? 32 : 128)
}

function parseTrustProxy (raw: string): TrustProxy {
  const value = raw.trim().toLowerCase()
  if (value === '' || value === 'false') return false
  if (value === 'true') return true
  if (/^\d+$/.test(value)) return Number(value)
  const entries = value.split(',').map(s => s.trim()).filter(Boolean)
  const bad = entries.find(e => !isAddressOrCidr(e))
  if (entries.length === 0 || bad !== undefined) {
    throw new ConfigError('TRUST_PROXY', 'must be false, true, a hop count or a comma-separated list of IPs/CIDRs')
  }
  return entries
}

function parseCorsOrigins (raw: string): string[] {
  const entries = raw.split(',').map(s => s.trim()).filter(Boolean)
  for (const entry of entries) {
    if (entry === '*') continue
    let origin: string | undefined
    try { origin = new URL(entry).origin } catch { origin = undefined }
    if (origin !== entry || !/^https?:/.test(entry)) {
      throw new ConfigError('CORS_ORIGINS', 'must be * or comma-separated origins like https://app.example.com (scheme, host, optional port; no path)')
    }
  }
  return entries
}

/** Parses and validates the environment once; throws a {@link ConfigError} naming the first bad variable. */
export function loadConfig (env: Record<string, string | undefined> = process.env): Config {
  const parsed = loadSettings(EnvSchema, env)
  const apiKeys = parsed.API_KEY.split(',').map(k => k.trim()).filter(k => k.length > 0)
  if (apiKeys.length === 0) throw new ConfigError('API_KEY', 'must hold at least one non-empty key')
  // The message names the rule, never the key.
  if (apiKeys.some(key => key.length < MIN_API_KEY_LENGTH)) {
    throw new ConfigError('API_KEY', `each key must be at least ${MIN_API_KEY_LENGTH} characters long`)
  }
  // The raw key list is dropped so a logged config object cannot leak it.
  const { API_KEY: _dropped, ...rest } = parsed
  return {
    ...rest,
    apiKeys,
    trustProxy: parseTrustProxy(parsed.TRUST_PROXY),
    corsOrigins: parseCorsOrigins(parsed.CORS_ORIGINS),
    queueBoardPath: env.QUEUE_BOARD_PATH !== undefined && env.QUEUE_BOARD_PATH.trim() === '' ? null : parsed.QUEUE_BOARD_PATH,
    QUEUE_BOARD_READ_ONLY: parsed.QUEUE_BOARD_READ_ONLY ?? env.NODE_ENV === 'production'
  }
}
