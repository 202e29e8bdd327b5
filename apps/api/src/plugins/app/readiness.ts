import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import { withTimeout } from '../../lib/with-timeout.ts'

export type CheckState = 'ok' | 'down'

export interface ReadinessReport {
  ready: boolean
  shuttingDown: boolean
  checks: { database: CheckState, redis: CheckState }
}

export interface Readiness {
  /** False once shutdown began, so load balancers stop sending traffic. */
  readonly accepting: boolean
  markUnready: () => void
  /** Asks every dependency, each bounded by a short timeout. */
  check: () => Promise<ReadinessReport>
}

declare module 'fastify' {
  interface FastifyInstance {
    readiness: Readiness
  }
}

export interface ReadinessOptions {
  redis: Redis
  checkDatabase: () => Promise<void>
  /** Per-check bound; a probe must answer before the orchestrator gives up on it. */
  timeoutMs?: number
}

const probe = async (fn: () => Promise<unknown>, ms: number, what: string): Promise<CheckState> => {
  try {
    await withTimeout(fn(), ms, what)
    return 'ok'
  } catch {
    return 'down'
  }
}

/** Readiness state and dependency checks, shared by /readyz and (later) /api/health. */
export default fp<ReadinessOptions>(async function readiness (fastify, opts) {
  const timeoutMs = opts.timeoutMs ?? 1000
  let accepting = true
  fastify.decorate('readiness', {
    get accepting () { return accepting },
    markUnready () { accepting = false },
    async check () {
      const [database, redis] = await Promise.all([
        probe(opts.checkDatabase, timeoutMs, 'database check'),
        probe(() => opts.redis.ping(), timeoutMs, 'redis check')
      ])
      const shuttingDown = !accepting
      return { ready: !shuttingDown && database === 'ok' && redis === 'ok', shuttingDown, checks: { database, redis } }
    }
  } satisfies Readiness)
}, { name: 'readiness' })
