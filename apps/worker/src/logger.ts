import { pino, type Logger } from 'pino'

/** Structured logs; never key material, never auth state (the code logs ids and counts only). */
export function createLogger (level: string): Logger {
  return pino({
    level,
    base: { service: 'worker' },
    redact: { paths: ['creds', 'keys', '*.creds', '*.keys', 'authorization', 'apiKey'], censor: '[REDACTED]' }
  })
}
