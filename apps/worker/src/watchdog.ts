// A frozen event loop cannot notice itself. When it happens (a native deadlock, as Node 20's crypto
// once did to this worker, or an endless loop), the worker's lease lapses and other workers take its
// sessions, but the process would stay, holding its sockets and database connections, and never
// come back. A thread outside the loop watches a heartbeat the loop writes every second; when the
// beat stops for `timeoutMs`, the thread writes one log line to stderr and kills the process with
// SIGKILL (the loop cannot run a graceful shutdown), and the pool of `main.ts` (or the container's
// restart policy) starts a new one. A frozen worker cannot fence itself, so the timeout is bounded
// by its lease (`watchdogBoundMs` in ownership/lease-timing.ts): it dies, and its sockets close,
// before another worker may connect its sessions.
//
// Until `arm()` (called just before the worker takes its first lease) the bound is
// START_TIMEOUT_MS instead: a starting process owns nothing a freeze could leave connected twice,
// and on a loaded host its start (module loading, Prisma's query compiler) may stall the loop for
// longer than the lease bound — killing it there would only restart the same start, in a loop.
import { Worker } from 'node:worker_threads'
import { WATCHDOG_MIN_MS } from './ownership/lease-timing.ts'

const BEAT_MS = 250
/** The bound before `arm()`: long enough for a slow start, short enough that a start frozen for good still ends. */
export const START_TIMEOUT_MS = 60_000

export interface Watchdog {
  /** From now on the loop may be silent for the timeout only (call it before the worker holds a lease). */
  arm(): void
  stop(): void
}

const threadCode = `
const { workerData } = require('node:worker_threads')
const { writeSync } = require('node:fs')
const beats = new Int32Array(workerData.heartbeat)
let last = Atomics.load(beats, 0)
let since = Date.now()
setInterval(() => {
  const now = Atomics.load(beats, 0)
  if (now !== last) { last = now; since = Date.now(); return }
  const silent = Date.now() - since
  if (silent < (Atomics.load(beats, 1) === 1 ? workerData.timeoutMs : workerData.startTimeoutMs)) return
  writeSync(2, JSON.stringify({ level: 60, time: Date.now(), service: 'worker', workerId: workerData.workerId, silentMs: silent,
    msg: 'event loop frozen: killing the process (the pool starts a new one)' }) + '\\n')
  process.kill(process.pid, 'SIGKILL')
}, ${BEAT_MS} / 2)
`

/**
 * Starts the watchdog thread (it does not keep the process alive). `timeoutMs` 0 starts nothing.
 * Shorter timeouts than a few beats (WATCHDOG_MIN_MS) are raised to that.
 * `onError`: the thread failed, so nothing watches any more (not expected; it is reported, not fatal).
 */
export function startWatchdog (timeoutMs: number, workerId: string, onError: (err: Error) => void = () => {}, startTimeoutMs = START_TIMEOUT_MS): Watchdog {
  if (timeoutMs <= 0) return { arm () {}, stop () {} }
  timeoutMs = Math.max(timeoutMs, WATCHDOG_MIN_MS) // a beat may come a little late on a busy loop
  startTimeoutMs = Math.max(startTimeoutMs, timeoutMs)
  // [0]: the heartbeat counter; [1]: 1 once armed.
  const heartbeat = new SharedArrayBuffer(8)
  const beats = new Int32Array(heartbeat)
  const timer = setInterval(() => Atomics.add(beats, 0, 1), BEAT_MS)
  timer.unref()
  // execArgv: [] keeps the process's flags (loaders, --input-type) away from the thread's plain CommonJS.
  const thread = new Worker(threadCode, { eval: true, execArgv: [], workerData: { heartbeat, timeoutMs, startTimeoutMs, workerId } })
  thread.on('error', err => onError(err))
  thread.unref()
  return {
    arm () {
      Atomics.add(beats, 0, 1) // a beat now: a stall just before arming is not counted against the armed bound
      Atomics.store(beats, 1, 1)
    },
    stop () {
      clearInterval(timer)
      void thread.terminate()
    }
  }
}
