// The worker pool: WORKER_PROCESSES processes (default one per CPU core), each an independent
// owner of its sessions; a process that dies is started again. More pools can run on other hosts.
import { fork, type ChildProcess } from 'node:child_process'
import { availableParallelism } from 'node:os'

const count = Number(process.env.WORKER_PROCESSES || availableParallelism())
const script = new URL('./worker-process.ts', import.meta.url).pathname
const children = new Set<ChildProcess>()
let stopping = false

function spawnWorker (slot: number, failures = 0) {
  // Each process is its own owner: a configured WORKER_ID gets the slot appended.
  const id = process.env.WORKER_ID ? { WORKER_ID: `${process.env.WORKER_ID}-${slot}` } : {}
  const child = fork(script, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...id, WORKER_SLOT: String(slot) } })
  children.add(child)
  const started = Date.now()
  child.on('exit', (code, signal) => {
    children.delete(child)
    if (stopping) { if (!children.size) process.exit(0); return }
    const next = Date.now() - started > 60_000 ? 0 : failures + 1
    const delay = Math.min(30_000, 500 * 2 ** next)
    // A frozen worker's watchdog ends it with SIGKILL (see watchdog.ts).
    console.error(`worker ${slot} exited with ${signal ?? code}; starting it again in ${delay} ms`)
    setTimeout(() => spawnWorker(slot, next), delay)
  })
}

for (let i = 0; i < count; i++) spawnWorker(i)

const stop = () => {
  if (stopping) return
  stopping = true
  for (const c of children) c.kill('SIGTERM')
  setTimeout(() => process.exit(0), 20_000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
