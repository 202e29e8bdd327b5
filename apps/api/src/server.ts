import Fastify from 'fastify'
import fp from 'fastify-plugin'
import closeWithGrace from 'close-with-grace'
import app, { serverOptions } from './app.ts'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { loggerOptions } from './logger.ts'
import { closeRedisClients, createRedisClients } from './redis.ts'
import { createTcpCheck } from './lib/tcp-check.ts'

function readConfig (): Config {
  try {
    return loadConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message)
      process.exit(1)
    }
    throw err
  }
}

const config = readConfig()
const server = Fastify({ ...serverOptions(config), logger: loggerOptions(config) })
const { redis, subscriber } = createRedisClients(config.REDIS_URL, server.log)

await server.register(fp(app), {
  config,
  redis,
  subscriber,
  // TODO: replace with @wss/db's query check once that package lands.
  checkDatabase: createTcpCheck(config.DATABASE_URL, 5432)
})

let closing: Promise<void> | undefined
/** Idempotent, ordered shutdown; every step runs even if an earlier one fails. */
function shutdown (): Promise<void> {
  closing ??= (async () => {
    server.readiness.markUnready()
    try {
      // Stops intake, closes Socket.IO and WebSocket clients (preClose), lets in-flight requests finish.
      await server.close()
    } catch (err) {
      server.log.error({ err }, 'error while closing the server')
    }
    await closeRedisClients(redis, subscriber)
    server.log.info('shutdown complete')
  })()
  return closing
}

// One grace timeout for the whole sequence; past it the process exits anyway.
closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT_MS, logger: server.log }, async ({ err, signal }) => {
  if (err !== undefined) server.log.error({ err }, 'closing after a fatal error')
  else server.log.info({ signal }, 'shutting down')
  await shutdown()
})

try {
  await server.listen({ port: config.PORT, host: config.HOST })
} catch (err) {
  server.log.fatal({ err }, 'could not listen')
  await shutdown()
  process.exit(1)
}
