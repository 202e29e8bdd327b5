import type { WASocket } from '@whiskeysockets/baileys'
import type { PrismaClient } from '@wss/db'
import type { OwnerRegistry } from '@wss/shared'
import type { Logger } from 'pino'
import type { AuthStore } from '../auth/index.ts'
import type { EventPublisher } from '../events.ts'
import { metrics } from '../lib/metrics.ts'
import type { Ownership } from '../ownership/ownership.ts'
import type { SocketFactory } from '../wa/socket-factory.ts'
import { SessionRuntime, type RuntimeDeps } from './session-runtime.ts'

export interface SessionRegistryDeps {
  workerId: string
  prisma: PrismaClient
  authStore: AuthStore
  events: EventPublisher
  makeSocket: SocketFactory
  connectLimiter: RuntimeDeps['connectLimiter']
  ownership: Ownership
  registry: OwnerRegistry
  config: RuntimeDeps['config']
  log: Logger
  /** Every socket of every session, so receipts can be observed. */
  onSocket (runtime: SessionRuntime, sock: WASocket): void
}

/**
 * The sessions this worker runs: the one place that starts, stops and forgets a session's
 * runtime, keeping the ownership lease in step with it.
 */
export class SessionRegistry {
  private readonly runtimes = new Map<string, SessionRuntime>()
  private readonly starting = new Map<string, Promise<SessionRuntime | null>>()
  private readonly log: Logger

  constructor (private readonly deps: SessionRegistryDeps) {
    this.log = deps.log
  }

  get size () { return this.runtimes.size }

  /** The state of each session running here (metrics). */
  * states (): Iterable<string> { for (const rt of this.runtimes.values()) if (rt.state) yield rt.state }

  /** Connection attempts in flight here, and sessions waiting for a slot (metrics). */
  connectAttempts () { return { inFlight: this.deps.connectLimiter.inFlight, waiting: this.deps.connectLimiter.waiting } }

  /** The session's runtime when it runs here. */
  get (sessionId: string): SessionRuntime | undefined { return this.runtimes.get(sessionId) }

  /** Claims and (unless `start` is false) starts a session here; null when another live worker owns it or it is gone. */
  acquire (sessionId: string, start: boolean): Promise<SessionRuntime | null> {
    const existing = this.runtimes.get(sessionId)
    if (existing) return Promise.resolve(existing)
    const inflight = this.starting.get(sessionId)
    if (inflight) return inflight
    const work = this.claimAndStart(sessionId, start).finally(() => this.starting.delete(sessionId))
    this.starting.set(sessionId, work)
    return work
  }

  /** Stops a session that ended by a command (its runtime reports why). */
  async finish (rt: SessionRuntime, reason: string) {
    await rt.stop()
    this.onFinished(rt, reason)
  }

  /** Logs the session out (when it runs here), deletes its rows, releases it and announces it. */
  async delete (sessionId: string) {
    await this.runtimes.get(sessionId)?.logout()
    this.runtimes.delete(sessionId)
    this.deps.authStore.evictSession(sessionId)
    await this.deps.prisma.session.deleteMany({ where: { id: sessionId } })
    await this.deps.ownership.release(sessionId).catch(() => undefined)
    this.deps.events.publish('session-deleted', { sessionId })
  }

  /** The lease lost these sessions: fenced ones are suspended (their row stops saying connected), taken-over ones stopped. */
  lost (ids: string[], reason: 'fenced' | 'taken-over') {
    this.log.warn({ count: ids.length, reason }, 'sessions lost')
    for (const id of ids) {
      const rt = this.runtimes.get(id)
      this.runtimes.delete(id)
      void (reason === 'fenced' ? rt?.suspend() : rt?.stop())
    }
  }

  /**
   * Sessions the registry says this worker owns but that do not run here (it stopped them when its
   * lease lapsed, and Redis kept the records): let them go, so they are not reported connected and
   * the sweep places them again.
   */
  async releaseStranded () {
    const { ownership, registry, workerId } = this.deps
    if (!ownership.healthy()) return
    for (const id of await registry.ownedBy(workerId)) {
      if (this.runtimes.has(id) || this.starting.has(id)) continue
      await ownership.release(id)
      // It ran under this worker's id before a fence or a restart of the process: it moves.
      metrics.takeovers.inc()
    }
  }

  /** Stops every session (shutdown); each socket is closed before this resolves. */
  async stopAll () {
    const all = [...this.runtimes.values()]
    this.runtimes.clear()
    await Promise.all(all.map(rt => rt.stop().catch(err => this.log.warn({ err, sessionId: rt.sessionId }, 'session did not stop cleanly'))))
  }

  private readonly onFinished = (rt: SessionRuntime, reason: string) => {
    const { sessionId } = rt
    const { ownership } = this.deps
    this.log.info({ sessionId, reason }, 'session finished here')
    // A late report from an older runtime of the session must not touch the one running now.
    if (this.runtimes.get(sessionId) !== rt) return
    this.runtimes.delete(sessionId)
    void ownership.refresh().catch(() => undefined)
    if (reason === 'stale-generation') {
      if (ownership.owned().get(sessionId) === rt.generation) ownership.forget(sessionId)
    } else void ownership.release(sessionId).catch(() => undefined)
  }

  private async claimAndStart (sessionId: string, start: boolean): Promise<SessionRuntime | null> {
    const { ownership, registry, workerId } = this.deps
    const generation = await ownership.claim(sessionId)
    if (generation === null) return null
    const rt = new SessionRuntime(sessionId, generation, { ...this.deps, logger: this.log, onFinished: this.onFinished })
    this.runtimes.set(sessionId, rt)
    // The load others route by is current at once, and the assignment that brought it here is settled.
    await Promise.all([ownership.refresh(), registry.settle(workerId)]).catch(() => undefined)
    let started: boolean
    try {
      started = !start || await rt.start()
    } catch (err) {
      // A half-built runtime must not stay registered: the session would be wedged here.
      this.runtimes.delete(sessionId)
      await rt.stop().catch(() => undefined)
      await ownership.release(sessionId).catch(() => undefined)
      throw err
    }
    if (started) return rt
    this.runtimes.delete(sessionId)
    await ownership.release(sessionId)
    return null
  }
}
