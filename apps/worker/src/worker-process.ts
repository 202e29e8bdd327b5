// One worker process: an independent owner of its WhatsApp sessions. `main.ts` starts a pool of these.
import { guardConsole } from './console-guard.ts'
import { loadConfig } from './config.ts'
import { createLogger } from './logger.ts'
import { createWorkerManager } from './sessions/worker-manager.ts'
import { startWatchdog } from './watchdog.ts'

let config
try {
  config = loadConfig()
} catch (err) {
  console.error((err as Error).message)
  process.exit(1)
}
const logger = createLogger(config.LOG_LEVEL)
guardConsole(logger)
// One failed promise must not take every session of this process down with it.
process.on('unhandledRejection', err => logger.error({ err }, 'unhandled rejection'))
startWatchdog(config.WATCHDOG_MS, config.WORKER_ID, err => logger.error({ err }, 'the watchdog thread failed: a frozen event loop will not be noticed'))
const manager = await createWorkerManager(config, logger)
await manager.start()

// Container health: a file touched while this worker holds a valid lease (see docker-compose.yml).
const healthFile = process.env.WORKER_HEALTH_FILE ?? '/tmp/wss-worker-healthy'
const { writeFile } = await import('node:fs/promises')
setInterval(() => {
  if (manager.ownership.healthy()) writeFile(healthFile, String(Date.now())).catch(() => undefined)
}, 5000).unref()

let stopping = false
const stop = async (signal: string) => {
  if (stopping) return
  stopping = true
  logger.info({ signal }, 'shutting down')
  const force = setTimeout(() => process.exit(1), 15_000)
  force.unref()
  await manager.close()
  // Baileys leaves timers behind after end(): exit explicitly once everything is closed.
  process.exit(0)
}
process.on('SIGTERM', () => void stop('SIGTERM'))
process.on('SIGINT', () => void stop('SIGINT'))
