import fp from 'fastify-plugin'
import type { PrismaClient } from '@wss/db'
import type { SessionsService } from './sessions.ts'
import type { StatusesService } from './statuses.ts'
import type { Page } from '../../lib/cursor.ts'
import { readInstants, readRange, type RangeQuery } from './analytics/range.ts'
import { sessionAnalytics } from './analytics/session-analytics.ts'
import { statusAnalytics } from './analytics/status-analytics.ts'
import { sessionViewersPage } from './analytics/viewer-export.ts'

export interface AnalyticsDeps { prisma: PrismaClient, sessions: SessionsService, statuses: StatusesService, now?: () => number }

/** Viewer analytics of a session and of one status, and the session's viewers over a range (docs/analytics.md). */
export function createAnalyticsService (deps: AnalyticsDeps) {
  const now = deps.now ?? Date.now
  return {
    /** Totals, a series per hour or local day and the top viewers of the statuses posted in the range. */
    async session (sessionId: string, query: RangeQuery & { top?: number }) {
      const range = readRange(query, now())
      await deps.sessions.load(sessionId)
      return await sessionAnalytics(deps.prisma, sessionId, range, query.top ?? 10)
    },
    /** One status: audience, viewers, reach, views over time, time-to-view percentiles. */
    status: (sessionId: string, statusId: string) => statusAnalytics(deps, sessionId, statusId, now()),
    /** The range of a viewer list (views in [from, to), as given); throws the 400s before any row is read. */
    viewersRange: (query: RangeQuery) => readInstants(query, now()),
    /** One page of the session's viewers whose view falls in the range, oldest first. */
    sessionViewers: (sessionId: string, range: { from: Date, to: Date }, page: Page) =>
      sessionViewersPage(deps, sessionId, range.from, range.to, page),
    /** One page of a status's viewers, oldest first. */
    statusViewers: (sessionId: string, statusId: string, page: Page) => deps.statuses.viewers(sessionId, statusId, page)
  }
}

export type AnalyticsService = ReturnType<typeof createAnalyticsService>

declare module 'fastify' {
  interface FastifyInstance {
    analytics: AnalyticsService
  }
}

export default fp(async function analytics (fastify, opts: { now?: () => number }) {
  fastify.decorate('analytics', createAnalyticsService({
    prisma: fastify.prisma,
    sessions: fastify.sessions,
    statuses: fastify.statuses,
    ...(opts.now === undefined ? {} : { now: opts.now })
  }))
}, { name: 'analytics', dependencies: ['sessions', 'statuses'] })
