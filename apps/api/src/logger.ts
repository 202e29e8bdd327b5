import type { FastifyServerOptions } from 'fastify'
import type { LoggerOptions } from 'pino'
import type { Config } from './config.ts'
import { maskApiKeyInUrl } from './lib/api-key.ts'
import { clientAddress, type AddressedRequest } from './lib/client-address.ts'

/** Header paths that carry credentials, wherever a request or response is logged. */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie'
]

interface RequestLike extends AddressedRequest { method?: string, url?: string, host?: string, hostname?: string, socket?: { remoteAddress?: string, remotePort?: number } }

/** pino options: structured, credentials redacted (headers and `?apiKey=`), pretty only on a TTY. */
export function loggerOptions (config: Pick<Config, 'LOG_LEVEL'>, isTTY = process.stdout.isTTY === true): NonNullable<FastifyServerOptions['logger']> {
  const options: LoggerOptions = {
    level: config.LOG_LEVEL,
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    serializers: {
      req (request: RequestLike) {
        return {
          method: request.method,
          url: request.url === undefined ? undefined : maskApiKeyInUrl(request.url),
          host: request.host ?? request.hostname,
          remoteAddress: clientAddress(request),
          remotePort: request.socket?.remotePort
        }
      }
    }
  }
  if (isTTY) {
    options.transport = { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } }
  }
  return options
}
