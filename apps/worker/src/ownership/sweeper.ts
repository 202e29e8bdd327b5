import type { PrismaClient } from '@wss/db'
import { COMMAND_JOB_OPTIONS, CommandName, type CommandJob, type LiveWorker, type OwnerRegistry } from '@wss/shared'
import type { Logger } from 'pino'
import { metrics } from '../lib/metrics.ts'
import type { QueueProducers } from '../lib/queues.ts'
import type { SessionRegistry } from '../sessions/session-registry.ts'
import type { Ownership } from './ownership.ts'

const RUNNABLE_STATES = ['connecting', 'awaiting_pairing', 'awaiting_qr', 'connected'] as const
/** A session this young is still being started by the command that created it. */
const NEW_SESSION_GRACE_MS = 5000
const REAP_LOCK_MS = 30_000
const RESUME_LOCK_MS = 15_000

export interface SweeperDeps {
  workerId: string
  intervalMs: number
  registry: OwnerRegistry
  ownership: Ownership
  sessions: SessionRegistry
  queues: QueueProducers
  prisma: PrismaClient
  log: Logger
}

/** Hands a dead worker's queued commands to the live workers (under their own job ids), then forgets it. */
async function reap ({ workerId, registry, queues, log }: SweeperDeps, deadId: string, live: LiveWorker[]) {
  if (!(await registry.lock(`reap:${deadId}`, workerId, REAP_LOCK_MS))) return
  const q = queues.transient(deadId)
  try {
    const jobs = await q.getJobs(['wait', 'prioritized', 'delayed', 'active'])
    for (const j of jobs) {
      // The receiving worker forwards it to the session's owner if that is another worker.
      const target = live.some(w => w.id === workerId) ? workerId : (await registry.assign())
      if (target) await queues.of(target).add(j.name, j.data, { ...COMMAND_JOB_OPTIONS, ...(j.id ? { jobId: j.id } : {}) })
    }
    await q.obliterate({ force: true })
    await registry.forgetWorker(deadId)
    log.info({ deadId, commands: jobs.length }, 'reaped a dead worker')
  } finally {
    await q.close()
  }
}

/** Gives each session that should run and has no live owner to the least-loaded live worker. */
async function placeOrphans ({ workerId, registry, queues, prisma }: SweeperDeps) {
  const candidates = await prisma.session.findMany({
    where: { state: { in: [...RUNNABLE_STATES] }, createdAt: { lt: new Date(Date.now() - NEW_SESSION_GRACE_MS) } },
    select: { id: true }
  })
  if (!candidates.length) return
  const owners = await registry.owners(candidates.map(c => c.id))
  for (const { id } of candidates) {
    if (owners.get(id)?.alive) continue
    // One resume in flight per session, so a slow start is not assigned (and counted) twice.
    if (!(await registry.lock(`resume:${id}`, workerId, RESUME_LOCK_MS))) continue
    const target = await registry.assign()
    if (!target) break
    const job: CommandJob = { name: CommandName.StartSession, payload: { sessionId: id, reason: 'resume' }, enqueuedAt: Date.now() }
    // One pending resume per session: BullMQ ignores a second add with the same job id.
    await queues.of(target).add(job.name, job, { ...COMMAND_JOB_OPTIONS, jobId: `resume-${id}`, removeOnFail: true })
    // An owner that is not alive: the session moves away from a dead (or fenced) worker.
    if (owners.get(id)) metrics.takeovers.inc()
  }
}

/**
 * Keeps every session placed: hands dead workers' queued commands to live ones (reap), gives
 * sessions without a live owner to the least-loaded live worker (sweep), and lets go of sessions
 * the registry says are here but are not. Runs every `intervalMs`, and as soon as a worker's
 * liveness lapses before then.
 */
export function createSweeper (deps: SweeperDeps) {
  const { workerId, registry, ownership, log } = deps
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  let running: Promise<void> = Promise.resolve()

  /**
   * Sessions that should run but have no live owner go to the least-loaded live workers. One worker
   * sweeps at a time; the lock is released when the sweep ends (its TTL only covers a worker dying
   * mid-sweep), so some worker sweeps every interval: held to its TTL, it made a lone survivor sweep
   * every other time, and a dead worker's sessions waited up to 2 intervals.
   */
  async function sweep () {
    if (!ownership.healthy()) return
    if (!(await registry.lock('sweep', workerId, Math.max(deps.intervalMs * 2, 3000)))) return
    try {
      const live = await registry.liveWorkers()
      if (!live.length) return
      for (const dead of await registry.deadWorkers()) await reap(deps, dead, live)
      await placeOrphans(deps)
    } finally {
      await registry.unlock('sweep', workerId).catch(() => undefined)
    }
  }

  // Every interval, and sooner when a worker's liveness runs out before then: a dead worker's
  // sessions are swept as its lease lapses (renewed keys never get that close).
  async function nextIn (): Promise<number> {
    const lapse = await registry.nextLeaseExpiry().catch(() => undefined)
    return lapse !== undefined && lapse < deps.intervalMs ? lapse + 25 : deps.intervalMs
  }

  function loop () {
    running = deps.sessions.releaseStranded().then(sweep)
      .catch(err => log.warn({ err: (err as Error).message }, 'sweep failed'))
      .then(nextIn)
      .then(delay => { if (!stopped) timer = setTimeout(loop, delay) })
  }

  return {
    start () { timer = setTimeout(loop, 200) },
    /** Stops sweeping; resolves once a sweep in progress ended. */
    async close () {
      stopped = true
      clearTimeout(timer)
      await running
    }
  }
}
