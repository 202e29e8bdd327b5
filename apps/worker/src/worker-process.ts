// One worker process: an independent owner of its WhatsApp sessions. `main.ts` starts a pool of these;
// a container runs one alone.
import { writeFile } from 'node:fs/promises'
import type { Server } from 'node:http'
import closeWithGrace from 'close-with-grace'
import { loadOrExit } from '@wss/shared/settings'
import { guardConsole } from './console-guard.ts'
import { loadConfig } from './config.ts'
import { createLogger } from './logger.ts'
import { createWorkerManager } from './sessions/worker-manager.ts'
import { startWatchdog } from './watchdog.ts'
import { answerPoolMetricsRequests, registry, startProcessMetrics } from './lib/metrics.ts'
import { startMetricsServer } from './lib/metrics-server.ts'

const config = loadOrExit(() => loadConfig(process.env))
const logger = createLogger(config.LOG_LEVEL)
guardConsole(logger)
// One failed promise must not take every session of this process down with it.
process.on('unhandledRejection', err => logger.error({ err }, 'unhandled rejection'))
const watchdog = startWatchdog(config.WATCHDOG_MS, config.WORKER_ID, err => logger.error({ err }, 'the watchdog thread failed: a frozen event loop will not be noticed'))

// Both assigned below, after the stop handlers that read them (a stop may come first).
// eslint-disable-next-line prefer-const
let manager: Awaited<ReturnType<typeof createWorkerManager>> | undefined
// eslint-disable-next-line prefer-const
let metricsServer: Server | undefined
let stopping = false
let stopReason: string | undefined
// Under the pool (main.ts, over an IPC channel) one stop can arrive several ways at once: the pool
// closing the channel (its request, or its death: no worker outlives its pool) and the signal the
// pool got too (Ctrl-C reaches the whole process group, systemd signals the whole cgroup). Any of
// them starts the one stop; close-with-grace would take the second for "exit now".
const underPool = process.channel !== undefined
// One grace timeout for the whole stop; past it the process exits anyway (with 1). A stop that
// finishes exits explicitly (with 0), because Baileys leaves timers behind after end().
const grace = closeWithGrace({
  delay: config.SHUTDOWN_TIMEOUT_MS,
  logger,
  // An unhandled rejection is logged (above), not a reason to stop every session.
  skip: underPool ? ['unhandledRejection', 'SIGINT', 'SIGTERM'] : ['unhandledRejection']
}, async ({ err, signal }) => {
  stopping = true
  if (err !== undefined) logger.error({ err }, 'closing after a fatal error')
  else logger.info({ signal: signal ?? stopReason }, 'shutting down')
  metricsServer?.close()
  await manager?.close()
})
if (underPool) {
  const stopOnce = (reason: string) => {
    if (stopping) return
    stopping = true
    stopReason = reason
    grace.close()
  }
  process.once('disconnect', () => stopOnce('pool'))
  process.on('SIGINT', () => stopOnce('SIGINT'))
  process.on('SIGTERM', () => stopOnce('SIGTERM'))
}

// Under the pool, the pool serves the metrics of all its processes; alone, this process serves its own.
startProcessMetrics()
if (underPool) answerPoolMetricsRequests()
metricsServer = !underPool && config.METRICS_PORT > 0 && config.METRICS_TOKEN !== undefined
  ? await startMetricsServer({ port: config.METRICS_PORT, token: config.METRICS_TOKEN, logger, render: async () => ({ contentType: registry.contentType, body: await registry.metrics() }) })
  : undefined

manager = await createWorkerManager(config, logger)
// Prisma's first query loads its query compiler, one long synchronous stretch (0.2 s idle, 0.6–0.75 s
// at load 11 on 2 cores): done here, before the watchdog's lease bound applies, not in the first sweep.
await manager.prisma.$queryRaw`SELECT 1`.catch((err: Error) => logger.warn({ err: err.message }, 'database warm-up failed: the worker starts anyway'))
// Armed before the first lease: from then on a frozen loop could leave sessions connected twice.
watchdog.arm()
if (!stopping) await manager.start()

// Container health: a file touched while this worker holds a valid lease (see docker-compose.yml).
setInterval(() => {
  if (manager?.ownership.healthy() === true) writeFile(config.WORKER_HEALTH_FILE, String(Date.now())).catch(() => undefined)
}, 5000).unref()
