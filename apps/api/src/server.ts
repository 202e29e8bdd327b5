import Fastify from 'fastify'
import fp from 'fastify-plugin'
import closeWithGrace from 'close-with-grace'
import { createPrisma } from '@wss/db'
import app, { serverOptions } from './app.ts'
import { loadOrExit } from '@wss/shared/settings'
import { loadConfig } from './config.ts'
import { pino } from 'pino'
import { loggerOptions } from './logger.ts'
import { closeRedisClients, createRedisClients } from './redis.ts'

const config = loadOrExit(() => loadConfig(process.env))
// Off a terminal, log lines are written in blocks (every 4 KB or 500 ms, and at exit) rather than
// one system call each: with a line per request that was a third of a node's CPU under load.
const logStream = process.stdout.isTTY === true ? undefined : pino.destination({ dest: 1, sync: false, minLength: 4096 })
if (logStream !== undefined) {
  setInterval(() => { try { logStream.flush() } catch { /* a write is under way: it flushes itself */ } }, 500).unref()
  process.on('exit', () => { try { logStream.flushSync() } catch { /* nothing more can be done */ } })
}
const server = Fastify({ ...serverOptions(config), logger: logStream === undefined ? loggerOptions(config) : { ...loggerOptions(config) as object, stream: logStream } })
const { redis, subscriber } = createRedisClients(config.REDIS_URL, server.log)
// Connects lazily; the start script has migrated the schema (the API never migrates).
const prisma = createPrisma(config.DATABASE_URL, {
  poolSize: config.DB_POOL_SIZE,
  idleInTransactionTimeoutMs: config.DB_IDLE_IN_TRANSACTION_MS,
  connectionTimeoutMs: 2000,
  applicationName: 'wss-api',
  onPoolError: err => server.log.warn({ err }, 'idle database connection failed')
})

// The readiness check defaults to `SELECT 1` through this client.
await server.register(fp(app), { config, redis, subscriber, prisma })

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
    await prisma.$disconnect().catch((err: unknown) => server.log.error({ err }, 'error while closing the database pool'))
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
