// The worker pool: WORKER_PROCESSES processes (default one per CPU core), each an independent
// owner of its sessions; a process that dies is started again. More pools can run on other hosts.
import { fork, type ChildProcess } from 'node:child_process'
import { availableParallelism } from 'node:os'
import closeWithGrace from 'close-with-grace'
import { loadOrExit } from '@wss/shared/settings'
import { loadConfig } from './config.ts'
import { createLogger } from './logger.ts'
import { startMetricsServer } from './lib/metrics-server.ts'
import { createPoolMetrics } from './lib/pool-metrics.ts'

// A worker stopping on its own exits by SHUTDOWN_TIMEOUT_MS; the pool waits this much longer before
// killing it, so a slow worker still writes its own "killed by timeout" line.
const CHILD_EXIT_MARGIN_MS = 2000

// Each process is its own owner: a configured WORKER_ID gets the slot appended.
const childEnv = (slot: number): NodeJS.ProcessEnv => ({
  ...process.env,
  ...(process.env.WORKER_ID ? { WORKER_ID: `${process.env.WORKER_ID}-${slot}` } : {}),
  WORKER_SLOT: String(slot)
})

const config = loadOrExit(() => loadConfig(process.env))
const count = config.WORKER_PROCESSES ?? availableParallelism()
// Every child reads the same settings but its own WORKER_ID: checked here once (the longest id is
// the last slot's), or a bad value would fail in each child, restarted with backoff for ever.
loadOrExit(() => loadConfig(childEnv(count - 1)))
const logger = createLogger(config.LOG_LEVEL).child({ role: 'pool' })

// Built (`pnpm build`), this file is dist/main.js beside dist/worker-process.js, run by node alone;
// from source, both are TypeScript run through tsx.
const built = import.meta.url.endsWith('.js')
const script = new URL(built ? './worker-process.js' : './worker-process.ts', import.meta.url).pathname
const execArgv = built ? ['--enable-source-maps'] : ['--import', 'tsx']
const children = new Set<ChildProcess>()
const restarts = new Set<NodeJS.Timeout>()
let stopping = false
let allExited: () => void = () => {}
const poolMetrics = createPoolMetrics(() => children, count)
// One endpoint per host for every process of the pool (they do not listen themselves).
const metricsServer = config.METRICS_PORT > 0 && config.METRICS_TOKEN !== undefined
  ? await startMetricsServer({ port: config.METRICS_PORT, token: config.METRICS_TOKEN, render: poolMetrics.render, logger })
  : undefined

function spawnWorker (slot: number, failures = 0) {
  // The IPC channel (fork) is how the pool asks a worker to stop: see worker-process.ts.
  const child = fork(script, [], { execArgv, env: childEnv(slot) })
  children.add(child)
  const started = Date.now()
  child.on('exit', (code, signal) => {
    children.delete(child)
    if (stopping) { if (children.size === 0) allExited(); return }
    poolMetrics.restarts.inc()
    const next = Date.now() - started > 60_000 ? 0 : failures + 1
    const delay = Math.min(30_000, 500 * 2 ** next)
    // A frozen worker's watchdog ends it with SIGKILL (see watchdog.ts).
    logger.error({ slot, code, signal, delayMs: delay }, 'worker exited; starting it again')
    const timer = setTimeout(() => { restarts.delete(timer); spawnWorker(slot, next) }, delay)
    restarts.add(timer)
  })
}

for (let i = 0; i < count; i++) spawnWorker(i)

closeWithGrace({
  delay: config.SHUTDOWN_TIMEOUT_MS + CHILD_EXIT_MARGIN_MS,
  logger,
  onTimeout: delay => {
    logger.error({ delayMs: delay, left: children.size }, 'workers still running after the grace: killing them')
    for (const c of children) c.kill('SIGKILL')
  }
}, async ({ err, signal }) => {
  if (err !== undefined) logger.error({ err }, 'closing after a fatal error')
  else logger.info({ signal, workers: children.size }, 'stopping the workers')
  stopping = true
  metricsServer?.close()
  for (const timer of restarts) clearTimeout(timer)
  if (children.size === 0) return
  const exited = new Promise<void>(resolve => { allExited = resolve })
  // A child whose channel is already gone (it is exiting) gets a plain SIGTERM instead.
  for (const c of children) if (c.connected) c.disconnect(); else c.kill('SIGTERM')
  await exited
})
