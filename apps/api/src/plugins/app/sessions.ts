import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import type { PrismaClient } from '@wss/db'
import { sessionOf, type OwnerRegistry, type Session } from '@wss/shared'
import type { CommandBus } from './command-bus.ts'
import type { PublishEvent } from './event-publisher.ts'
import type { ConnectionStatus, CreateSessionBody, PairingCode } from '../../schemas/sessions.ts'
import { toConnectionStatus, toSession } from './sessions/session-view.ts'
import { createConnectionStatusCache } from './sessions/connection-status-cache.ts'
import { createSessionReads, readPairingCode } from './sessions/reads.ts'
import {
  createSession,
  removeSession,
  requestPairingCode,
  restartSession,
  updatePhoneNumber,
  type SessionActionsDeps
} from './sessions/actions.ts'

export { isConnected, notFound, type SessionView } from './sessions/session-view.ts'
export { CONNECTION_STATUS_FRESH_MS, CONNECTION_STATUS_MAX_AGE_MS } from './sessions/connection-status-cache.ts'

/** Events after which a session's connection status may have changed. */
const SESSION_EVENTS: ReadonlySet<string> = new Set(['connection-status', 'pairing-code', 'qr-code', 'session-created', 'session-deleted'])

export interface SessionsDeps {
  prisma: PrismaClient
  owners: OwnerRegistry
  commands: CommandBus
  publish: PublishEvent
  /** How long creation waits for the worker's first answer (code, QR or connection). */
  startWaitMs: number
  /**
   * Whether a cached connection status may be answered: only while Redis is connected, since the
   * announcements that drop the cache come through it (and without it the answer is a 503).
   */
  cacheUsable?: () => boolean
  /** The clock the connection-status cache ages by (tests pass a fake one). Default: Date.now. */
  now?: () => number
  log: FastifyBaseLogger
}

/** The sessions service: rows in Postgres, liveness from the owner registry, actions as commands. */
export function createSessionsService (deps: SessionsDeps) {
  const reads = createSessionReads(deps)
  const statusCache = createConnectionStatusCache({
    read: async sessionId => toConnectionStatus(await reads.load(sessionId)),
    usable: () => deps.cacheUsable?.() ?? true,
    now: deps.now ?? Date.now
  })
  const actions: SessionActionsDeps = { ...deps, reads, changed: statusCache.drop }

  return {
    find: reads.find,
    load: reads.load,
    views: reads.views,
    create: (input: CreateSessionBody): Promise<Session> => createSession(actions, input),
    list: reads.list,
    get: async (sessionId: string): Promise<Session> => toSession(await reads.load(sessionId)),
    /** The connection status, at most CONNECTION_STATUS_MAX_AGE_MS old and never older than the last announced change. */
    connectionStatus: (sessionId: string): Promise<ConnectionStatus> => statusCache.get(sessionId),
    /**
     * The connection status when memory can answer it at once (what connectionStatus would
     * answer, already read), else undefined: the route then answers without waiting on a promise.
     */
    connectionStatusNow: (sessionId: string): ConnectionStatus | undefined => statusCache.now(sessionId),
    /** Forgets what is cached of a session (its state changed). */
    changed: (sessionId: string): void => statusCache.drop(sessionId),
    remove: (sessionId: string) => removeSession(actions, sessionId),
    restart: (sessionId: string): Promise<Session> => restartSession(actions, sessionId),
    updatePhoneNumber: (sessionId: string, input: string): Promise<Session> => updatePhoneNumber(actions, sessionId, input),
    pairingCode: (sessionId: string): Promise<PairingCode> => readPairingCode(reads, sessionId),
    requestPairingCode: (sessionId: string): Promise<PairingCode> => requestPairingCode(actions, sessionId)
  }
}

export type SessionsService = ReturnType<typeof createSessionsService>

declare module 'fastify' {
  interface FastifyInstance {
    sessions: SessionsService
  }
}

export interface SessionsPluginOptions {
  /** See {@link SessionsDeps.now}. */
  now?: () => number
}

export default fp<SessionsPluginOptions>(async function sessions (fastify, opts) {
  const service = createSessionsService({
    prisma: fastify.prisma,
    owners: fastify.owners,
    commands: fastify.commands,
    publish: fastify.publishEvent,
    startWaitMs: fastify.config.START_WAIT_MS,
    cacheUsable: () => fastify.redis.status === 'ready',
    ...(opts.now === undefined ? {} : { now: opts.now }),
    log: fastify.log.child({ service: 'sessions' })
  })
  fastify.decorate('sessions', service)
  // Every node hears every worker's announcements: a change drops this node's cached status.
  const off = fastify.events.onEvent(event => {
    const sessionId = sessionOf(event)
    if (sessionId !== null && SESSION_EVENTS.has(event.event)) service.changed(sessionId)
  })
  fastify.addHook('onClose', async () => off())
}, { name: 'sessions', dependencies: ['command-bus', 'event-publisher', 'event-relay'] })
