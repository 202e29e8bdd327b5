import { deleteRawPastRetention, pruneAnalytics, rollupAnalytics, type PrismaClient } from '@wss/db'
import type { OwnerRegistry } from '@wss/shared'
import type { Logger } from 'pino'
import type { QueuedDelivery } from '@wss/webhooks'

export interface MaintenanceDeps {
  workerId: string
  prisma: PrismaClient
  registry: OwnerRegistry
  retentionDays: number
  /** Days the analytics rollups are kept (they outlive the raw rows). */
  analyticsRetentionDays: number
  /** How often the deployment runs maintenance (once per interval, on whichever worker takes the lock). */
  intervalMs: number
  log: Logger
  /** Queues webhook deliveries again (the fan-out's `enqueue`). */
  requeueDeliveries?: (deliveries: QueuedDelivery[], name: string) => Promise<void>
  /** Queues the job of every scheduled status, and of every fired one not sent yet, again (those a Redis without its data lost come back); how many rows. */
  requeueScheduled?: () => Promise<number>
}

const LOCK = 'maintenance'
/** A pending delivery this far past its attempt time has lost its job (its process died between the row and the job). */
const LOST_DELIVERY_MS = 3_600_000

/**
 * Deployment-wide upkeep: the analytics rollup (once per UTC day), then rollups past their
 * retention, statuses (and their viewers) and webhook deliveries past the retention, webhook
 * deliveries whose job was lost (queued again), scheduled statuses' jobs and fired ones' sends
 * (queued again when a Redis without its data lost them), and uploads that expired or that no live status
 * needs, are deleted. Every worker tries each interval; a Redis lock held for the interval (not
 * released) lets exactly one of them run it.
 */
export function createMaintenance (deps: MaintenanceDeps) {
  const { prisma, log } = deps
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> = Promise.resolve()

  /** Deletes what outlived the retention, now, whoever else runs it. */
  async function run (now: Date = new Date()) {
    // Before the raw retention, which never deletes a posted status the rollup does not hold yet.
    // First, and on its own: a scheduled status whose job Redis lost is due whatever else fails here.
    const scheduled = await (deps.requeueScheduled?.() ?? Promise.resolve(0))
      .catch((err: unknown) => { log.warn({ err: (err as Error).message }, 'scheduled statuses not queued again'); return 0 })
    const rollup = await rollupAnalytics(prisma, now)
      .catch((err: unknown) => { log.warn({ err: (err as Error).message }, 'analytics rollup failed'); return null })
    const analytics = await pruneAnalytics(prisma, new Date(now.getTime() - deps.analyticsRetentionDays * 86_400_000))
    const statuses = await deleteRawPastRetention(prisma, new Date(now.getTime() - deps.retentionDays * 86_400_000))
    const uploads = await prisma.$executeRaw`DELETE FROM uploads u WHERE (u.expires_at IS NOT NULL AND u.expires_at < now())
      OR (u.expires_at IS NULL AND NOT EXISTS (SELECT 1 FROM statuses s WHERE s.upload_id = u.id AND s.state IN ('pending', 'sent', 'scheduled') AND (s.expires_at IS NULL OR s.expires_at > now())))`
    // Webhook deliveries are kept as long as statuses: a delivery ends within its retry schedule (about a day).
    const deliveries = await prisma.webhookDelivery.deleteMany({ where: { createdAt: { lt: new Date(now.getTime() - deps.retentionDays * 86_400_000) } } })
    const requeued = await requeueLost()
    log.info({ statuses, uploads, analytics, rollup: rollup?.ran ?? false, webhookDeliveries: deliveries.count, requeued, scheduled }, 'maintenance done')
  }

  // Attempt n + 1 of each lost delivery, under a job id of its own; the attempt claim keeps a job that
  // was only late from sending an attempt twice.
  async function requeueLost (): Promise<number> {
    if (deps.requeueDeliveries === undefined) return 0
    const lost = await prisma.webhookDelivery.findMany({
      where: { state: 'pending', nextAttemptAt: { lt: new Date(Date.now() - LOST_DELIVERY_MS) } },
      select: { id: true, attempts: true },
      take: 1000
    })
    if (lost.length === 0) return 0
    await deps.requeueDeliveries(lost.map(d => ({ deliveryId: d.id, base: d.attempts, jobId: `${d.id}-m${d.attempts}` })), 'requeued')
    return lost.length
  }

  /** Runs maintenance if no worker of the deployment did in this interval; true when this one ran it. */
  async function tick (): Promise<boolean> {
    // A little under the interval, so the next tick of whichever worker finds the lock free.
    if (!(await deps.registry.lock(LOCK, deps.workerId, Math.max(deps.intervalMs - 1000, deps.intervalMs / 2)))) return false
    await run()
    return true
  }

  return {
    run,
    tick,
    start () {
      timer = setInterval(() => {
        running = tick().catch(err => log.warn({ err: (err as Error).message }, 'maintenance failed'))
      }, deps.intervalMs)
    },
    async close () {
      clearInterval(timer)
      await running
    }
  }
}
