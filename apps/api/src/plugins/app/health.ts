import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import type { PrismaClient } from '@wss/db'
import type { OwnerRegistry } from '@wss/shared'
import type { CommandBus } from './command-bus.ts'
import type { Readiness } from './readiness.ts'
import type { Health } from '../../schemas/health.ts'
import { resolveRevision } from '../../lib/revision.ts'
import pkg from '../../../package.json' with { type: 'json' }

const DAY_MS = 24 * 60 * 60 * 1000

export interface HealthDeps {
  prisma: PrismaClient
  owners: OwnerRegistry
  commands: CommandBus
  readiness: Readiness
  log: FastifyBaseLogger
  version?: string
  /** The build's git revision (see lib/revision.ts). */
  revision?: string | null
}

interface BytesRow { sessionId: string, bytes: bigint | number | null }

// A failing part is logged and left out, so the report itself always answers.
async function part<T> (log: FastifyBaseLogger, what: string, fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn()
  } catch (err) {
    log.warn({ err, part: what }, 'health part unavailable')
    return null
  }
}

async function sessionStats (prisma: PrismaClient, owners: OwnerRegistry) {
  const [total, connectedRows] = await Promise.all([
    prisma.session.count(),
    prisma.session.findMany({ where: { state: 'connected' }, select: { id: true } })
  ])
  // Connected means the owner's lease holds too, as everywhere else.
  const ownerMap = await owners.owners(connectedRows.map(r => r.id))
  const connected = connectedRows.filter(r => ownerMap.get(r.id)?.alive === true).length
  return { total, connected }
}

async function recentStatuses (prisma: PrismaClient) {
  const since = new Date(Date.now() - DAY_MS)
  return {
    last24h: await prisma.status.count({
      where: { OR: [{ sentAt: { gte: since } }, { sentAt: null, createdAt: { gte: since } }] }
    })
  }
}

async function uploadStats (prisma: PrismaClient) {
  const agg = await prisma.upload.aggregate({ _count: { _all: true }, _sum: { size: true } })
  return { count: agg._count._all, bytes: agg._sum.size ?? 0 }
}

// pg_column_size of each whole row, summed per session: the database's own figure.
async function storage (prisma: PrismaClient) {
  const [sessions, creds, keys, statuses, viewers] = await Promise.all([
    prisma.session.findMany({ select: { id: true }, orderBy: { id: 'asc' } }),
    prisma.$queryRaw<BytesRow[]>`SELECT session_id AS "sessionId", SUM(pg_column_size(t.*))::bigint AS bytes FROM auth_creds t GROUP BY session_id`,
    prisma.$queryRaw<BytesRow[]>`SELECT session_id AS "sessionId", SUM(pg_column_size(t.*))::bigint AS bytes FROM auth_keys t GROUP BY session_id`,
    prisma.$queryRaw<BytesRow[]>`SELECT session_id AS "sessionId", SUM(pg_column_size(t.*))::bigint AS bytes FROM statuses t GROUP BY session_id`,
    prisma.$queryRaw<BytesRow[]>`SELECT session_id AS "sessionId", SUM(pg_column_size(t.*))::bigint AS bytes FROM status_viewers t GROUP BY session_id`
  ])
  const index = (rows: BytesRow[]) => new Map(rows.map(r => [r.sessionId, Number(r.bytes ?? 0)]))
  const [c, k, s, v] = [index(creds), index(keys), index(statuses), index(viewers)]
  return sessions.map(({ id }) => {
    const authBytes = (c.get(id) ?? 0) + (k.get(id) ?? 0)
    const statusBytes = s.get(id) ?? 0
    const viewerBytes = v.get(id) ?? 0
    return { sessionId: id, authBytes, statusBytes, viewerBytes, totalBytes: authBytes + statusBytes + viewerBytes }
  })
}

type LiveWorkers = Awaited<ReturnType<OwnerRegistry['liveWorkers']>>

// The live workers' command queues, summed, and the deployment's scheduled-statuses and webhooks queues.
async function queueCounts (commands: CommandBus, workers: LiveWorkers) {
  const [perWorker, deployment] = await Promise.all([commands.queueCounts(workers.map(w => w.id)), commands.deploymentQueueCounts()])
  return { ...perWorker, ...deployment }
}

// Each part is read only when what it needs is up; the others are null.
function readStats (deps: HealthDeps, up: { db: boolean, redis: boolean }, workers: LiveWorkers | null) {
  const { prisma, owners, commands, log } = deps
  return Promise.all([
    up.db && up.redis ? part(log, 'sessions', () => sessionStats(prisma, owners)) : null,
    up.db ? part(log, 'statuses', () => recentStatuses(prisma)) : null,
    up.db ? part(log, 'viewers', async () => ({ total: await prisma.statusViewer.count() })) : null,
    up.db ? part(log, 'uploads', () => uploadStats(prisma)) : null,
    up.redis && workers !== null ? part(log, 'queues', () => queueCounts(commands, workers)) : null,
    up.db ? part(log, 'storage', () => storage(prisma)) : null
  ])
}

async function workerSessions (deps: HealthDeps, workers: LiveWorkers | null): Promise<Health['workers']> {
  if (workers === null) return null
  const owned = await part(deps.log, 'owned sessions', () => deps.owners.ownedCounts(workers.map(w => w.id)))
  if (owned === null) return null
  return workers.map((w, i) => ({ id: w.id, sessions: owned[i] ?? 0 })).sort((a, b) => a.id.localeCompare(b.id))
}

/** The report of `GET /api/health`; every part that can be read is, the rest is null. */
export function createHealthService (deps: HealthDeps) {
  return {
    async report (): Promise<Health> {
      const [ready, workers] = await Promise.all([
        deps.readiness.check(),
        part(deps.log, 'workers', () => deps.owners.liveWorkers())
      ])
      const dbUp = ready.checks.database === 'ok'
      const redisUp = ready.checks.redis === 'ok'
      const alive = workers?.length ?? 0
      const [sessions, statuses, viewers, uploads, queues, perSession] = await readStats(deps, { db: dbUp, redis: redisUp }, workers)
      const workerList = await workerSessions(deps, workers)
      const ok = dbUp && redisUp && alive > 0
      return {
        status: ok ? 'ok' : 'degraded',
        version: deps.version ?? pkg.version,
        revision: deps.revision ?? null,
        uptime: Math.round(process.uptime() * 1000) / 1000,
        checks: {
          database: { status: ready.checks.database },
          redis: { status: ready.checks.redis },
          workers: { status: alive > 0 ? 'ok' : 'down', alive }
        },
        stats: { sessions, statuses, viewers, uploads, queues },
        storage: perSession,
        workers: workerList
      }
    }
  }
}

export type HealthService = ReturnType<typeof createHealthService>

declare module 'fastify' {
  interface FastifyInstance {
    health: HealthService
  }
}

export default fp(async function health (fastify) {
  const revision = await resolveRevision(fastify.config.GIT_REVISION)
  fastify.decorate('health', createHealthService({
    revision,
    prisma: fastify.prisma,
    owners: fastify.owners,
    commands: fastify.commands,
    readiness: fastify.readiness,
    log: fastify.log.child({ service: 'health' })
  }))
}, { name: 'health', dependencies: ['command-bus', 'readiness'] })
