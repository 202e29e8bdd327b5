// The faults the chaos run injects, and its seeded schedule: every kind once first (in a seeded
// order, some two at a time), then seeded picks until the time is up.
import { sleep, type Stack } from '../harness.ts'
import type { WorkerPool } from './fleet-procs.ts'
import type { Rng } from './rng.ts'
import type { OwnPostgres, OwnRedis } from './services.ts'

export const FAULT_KINDS = [
  'worker-sigkill', 'worker-sigstop', 'api-restart',
  'redis-restart', 'redis-flush', 'pg-restart', 'pg-terminate',
  'sim-refuse', 'sim-replaced', 'sim-drop', 'sim-delay'
] as const
export type FaultKind = typeof FAULT_KINDS[number]

/** Kinds that may not share a step: both act on the same part, or one's check needs the stack otherwise quiet. */
const ALONE = new Set<FaultKind>(['sim-replaced', 'worker-sigstop'])

export interface FaultContext {
  stack: Stack
  pool: WorkerPool
  pg: OwnPostgres
  redis: OwnRedis
  /** Linked sessions with their simulator phone and device id. */
  sessions: Array<{ sessionId: string, phone: string, deviceId: number }>
  leaseMs: number
  log: (line: string) => void
}

/** What one injected fault did; `from` is when recovery is measured from (a later time for 440). */
export interface FaultOutcome {
  kind: FaultKind
  at: number
  from: number
  detail: string
  /** The paused window of a SIGSTOP: [stop, cont]. */
  paused?: [number, number]
  /** For 440: sessions that reconnected by themselves (the product must not fight another client). */
  fought?: number
}

/** The seeded order: every kind once, in steps of one or two faults, then random steps. */
export function schedule (rng: Rng, steps: number): FaultKind[][] {
  const order = rng.pick(FAULT_KINDS, FAULT_KINDS.length)
  const out: FaultKind[][] = []
  const stepOf = (pool: FaultKind[]) => {
    const first = pool.shift()!
    if (!ALONE.has(first) && rng.next() < 0.35) {
      const i = pool.findIndex(k => !ALONE.has(k) && k.split('-')[0] !== first.split('-')[0])
      if (i >= 0) return [first, pool.splice(i, 1)[0]!]
    }
    return [first]
  }
  while (order.length) out.push(stepOf(order))
  while (out.length < steps) out.push(stepOf(rng.pick(FAULT_KINDS, FAULT_KINDS.length)))
  return out
}

/** The running worker that owns the most sessions (a replacement that owns none would test nothing). */
async function busiest (ctx: FaultContext, rng: Rng) {
  const running = Array.from({ length: 3 }, (_, i) => ctx.pool.pick(rng.int(3) + i)).filter((w, i, all) => w && all.indexOf(w) === i)
  const owned = await Promise.all(running.map(w => ctx.stack.ownedBy(w!.id).catch(() => 0)))
  return running[owned.indexOf(Math.max(...owned))]
}

const few = (ctx: FaultContext, rng: Rng) => rng.pick(ctx.sessions, Math.max(2, Math.ceil(ctx.sessions.length / 10)))

/** Injects one fault; resolves when its action is done (a SIGSTOP after the SIGCONT). */
export async function inject (kind: FaultKind, ctx: FaultContext, rng: Rng): Promise<FaultOutcome> {
  const at = Date.now()
  const done = (detail: string, extra: Partial<FaultOutcome> = {}): FaultOutcome => ({ kind, at, from: at, detail, ...extra })
  switch (kind) {
    case 'worker-sigkill': {
      const w = await busiest(ctx, rng)
      if (!w) return done('no running worker')
      w.proc.kill('SIGKILL')
      return done(`SIGKILL ${w.id}`)
    }
    case 'worker-sigstop': {
      const w = await busiest(ctx, rng)
      if (!w) return done('no running worker')
      const pauseMs = ctx.leaseMs + 7000 + rng.int(5000)
      ctx.pool.pause(w)
      await sleep(pauseMs)
      ctx.pool.resume(w)
      return done(`SIGSTOP ${w.id} for ${(pauseMs / 1000).toFixed(1)} s, then SIGCONT`, { paused: [at, Date.now()] })
    }
    case 'api-restart': {
      const index = rng.int(ctx.stack.apis.length)
      const api = ctx.stack.apis[index]!
      api.proc.kill('SIGTERM')
      await Promise.race([api.exited, sleep(10_000)])
      if (api.proc.exitCode === null) api.proc.kill('SIGKILL')
      // A node that could not start in time exits; its process manager starts it again.
      for (let attempt = 1; ; attempt++) {
        try {
          await ctx.stack.addApi({}, Number(new URL(api.url).port), index)
          return done(`api-${index + 1} SIGTERM and started again on its port${attempt > 1 ? ` (at attempt ${attempt})` : ''}`)
        } catch (err) {
          if (attempt >= 3) throw err
          ctx.log(`api-${index + 1} did not start (${(err as Error).message}); starting it again`)
        }
      }
    }
    case 'redis-restart': await ctx.redis.restart(false); return done('redis-server stopped (SIGTERM) and started on its append-only file')
    case 'redis-flush': await ctx.redis.restart(true); return done('redis-server stopped and started with its files deleted')
    case 'pg-restart': ctx.pg.restart(); return done('pg_ctl restart -m fast')
    case 'pg-terminate': return done(`pg_terminate_backend on ${await ctx.pg.terminateBackends()} backends`)
    case 'sim-refuse': {
      const victims = few(ctx, rng)
      await ctx.stack.sim.refuseConnections(6000)
      for (const s of victims) await ctx.stack.sim.dropDevice(s.phone, s.deviceId)
      return done(`connections refused for 6 s, ${victims.length} sessions' sockets dropped`)
    }
    case 'sim-drop': {
      const victims = few(ctx, rng)
      for (const s of victims) await ctx.stack.sim.dropDevice(s.phone, s.deviceId)
      return done(`${victims.length} sessions' sockets dropped`)
    }
    case 'sim-delay': {
      const ms = 2000 + rng.int(2000)
      await ctx.stack.sim.delayReplies(ms)
      await sleep(10_000)
      await ctx.stack.sim.delayReplies(0)
      return done(`every reply delayed ${ms} ms for 10 s`)
    }
    case 'sim-replaced': return replaced(ctx, rng, at)
  }
}

/**
 * 440 on a few sessions: another client took the device. The product must not fight it (no
 * reconnect by itself for 5 s); then the operator restarts them and recovery runs from there.
 */
async function replaced (ctx: FaultContext, rng: Rng, at: number): Promise<FaultOutcome> {
  const victims = few(ctx, rng)
  const replacedAt = Date.now()
  for (const s of victims) await ctx.stack.sim.replaceDevice(s.phone, s.deviceId)
  await sleep(5000)
  // A session that logged in again after its 440 fought the other client.
  const conns = await ctx.stack.sim.connections()
  const fighters = victims.filter(s => conns[`${s.phone}:${s.deviceId}`]?.entries.some(e => e.event === 'login' && e.at >= replacedAt))
  const fought = fighters.length
  const from = Date.now()
  const answers: string[] = []
  for (const s of victims) {
    const mine: number[] = []
    for (let i = 0; i < 5; i++) {
      const res = await ctx.stack.api('POST', `/api/sessions/${s.sessionId}/restart`, undefined, i % ctx.stack.apis.length).catch(() => ({ status: 0 }))
      mine.push(res.status)
      if (res.status > 0 && res.status < 300) break
      await sleep(500)
    }
    answers.push(mine.join(','))
  }
  return { kind: 'sim-replaced', at, from, detail: `440 on ${victims.length} sessions; after 5 s ${fought} had logged in again by themselves${fought ? ` (${fighters.map(f => f.sessionId).join(', ')})` : ''}; then POST /restart (answers ${answers.join(' / ')})`, fought }
}
