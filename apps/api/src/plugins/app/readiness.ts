import fp from 'fastify-plugin'
import type { RedisClient } from '@wss/shared'
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
  /**
   * Asks every dependency, each bounded by a short timeout. The answer is reused for `cacheMs`
   * and concurrent callers share one check, so probes cannot multiply the load on Postgres and Redis.
   */
  check: () => Promise<ReadinessReport>
}

declare module 'fastify' {
  interface FastifyInstance {
    readiness: Readiness
  }
}

export interface ReadinessOptions {
  redis: RedisClient
  checkDatabase: () => Promise<void>
  /** Per-check bound; a probe must answer before the orchestrator gives up on it. */
  timeoutMs?: number
  /** How long one check's answer is reused. */
  cacheMs?: number
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
  const cacheMs = opts.cacheMs ?? 1000
  let accepting = true
  let last: { at: number, checks: ReadinessReport['checks'] } | undefined
  let running: Promise<ReadinessReport['checks']> | undefined

  async function checkDependencies (): Promise<ReadinessReport['checks']> {
    const [database, redis] = await Promise.all([
      probe(opts.checkDatabase, timeoutMs, 'database check'),
      probe(() => opts.redis.ping(), timeoutMs, 'redis check')
    ])
    last = { at: Date.now(), checks: { database, redis } }
    return last.checks
  }

  fastify.decorate('readiness', {
    get accepting () { return accepting },
    markUnready () { accepting = false },
    async check () {
      const fresh = last !== undefined && Date.now() - last.at < cacheMs ? last.checks : undefined
      const checks = fresh ?? await (running ??= checkDependencies().finally(() => { running = undefined }))
      const shuttingDown = !accepting
      const ready = !shuttingDown && checks.database === 'ok' && checks.redis === 'ok'
      return { ready, shuttingDown, checks: { ...checks } }
    }
  } satisfies Readiness)
}, { name: 'readiness' })
