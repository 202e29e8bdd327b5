import type { Logger } from 'pino'

/**
 * libsignal (inside Baileys) prints Signal session records — private ratchet keys included — with
 * console.info/warn ("Closing session:", session). Route console output through the logger and keep
 * only its text: no object argument is ever written. Installed by the process entry point.
 */
export function guardConsole (logger: Logger) {
  const text = (args: unknown[]) => args.filter(a => typeof a === 'string' || typeof a === 'number').join(' ').slice(0, 500)
  console.log = (...args: unknown[]) => logger.debug({ source: 'console' }, text(args))
  console.info = (...args: unknown[]) => logger.debug({ source: 'console' }, text(args))
  console.debug = (...args: unknown[]) => logger.trace({ source: 'console' }, text(args))
  console.warn = (...args: unknown[]) => logger.warn({ source: 'console' }, text(args))
  console.error = (...args: unknown[]) => logger.error({ source: 'console' }, text(args))
}
