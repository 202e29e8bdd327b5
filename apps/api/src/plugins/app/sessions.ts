import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import type { PrismaClient, Session as SessionRow } from '@wss/db'
import {
  AppError,
  CommandName,
  isAppError,
  normalizePhoneNumber,
  type OwnerRecord,
  type OwnerRegistry,
  type Session,
  type SessionState
} from '@wss/shared'
import type { CommandBus } from './command-bus.ts'
import type { PublishEvent } from './event-publisher.ts'
import type { ConnectionStatus, CreateSessionBody, PairingCode } from '../../schemas/sessions.ts'
import { isUniqueViolation } from '../../lib/db-errors.ts'
import { fieldError } from '../../lib/validation.ts'
import { cursorDate, cursorString, paginate, type Page } from '../../lib/cursor.ts'
import { ADMIN_SCOPE, sessionsWhere, type KeyScope } from '../../lib/key-scope.ts'

/** A session row and its owner record, read together (one DB read, one registry read). */
export interface SessionView { row: SessionRow, owner: OwnerRecord | null }

/**
 * True while the row says connected, its owner's lease holds, and that owner is the one whose
 * generation the row carries: `connected` never outlives the owner, nor shows before a new owner's
 * own socket opened (a claim bumps the row's generation and resets `connected` in one statement).
 */
export function isConnected ({ row, owner }: SessionView): boolean {
  return row.state === 'connected' && owner?.alive === true && owner.generation !== null && owner.generation === row.generation
}

// A connected row whose owner's lease lapsed reports `disconnected`, so `state` and
// `connected` never contradict each other.
function reportedState (view: SessionView): SessionState {
  return view.row.state === 'connected' && !isConnected(view) ? 'disconnected' : view.row.state
}

/** The session object of the API. Codes and QR are only shown while the session is not connected. */
function toSession (view: SessionView): Session {
  const { row } = view
  const linked = row.state === 'connected'
  return {
    sessionId: row.id,
    sessionName: row.name,
    authMethod: row.authMethod,
    state: reportedState(view),
    connected: isConnected(view),
    pairingCode: linked ? null : row.pairingCode,
    qrCode: linked ? null : row.qrCode,
    phoneNumber: row.phoneNumber,
    ownNumber: row.ownNumber,
    lastError: row.lastError,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString()
  }
}

/**
 * How long a connection status read from Postgres and the registry is answered from memory as it
 * is. Changes the workers announce drop the entry at once; these bound what no event announces (an
 * owner's lease lapsing). An entry older than this is still answered while a new read runs in the
 * background (one per session), so a busy route never waits for the database; one older than
 * {@link CONNECTION_STATUS_MAX_AGE_MS} is read again before answering. The route is never more than
 * CONNECTION_STATUS_MAX_AGE_MS behind, and under steady polling about FRESH_MS.
 */
export const CONNECTION_STATUS_FRESH_MS = 50
export const CONNECTION_STATUS_MAX_AGE_MS = 100
const CONNECTION_STATUS_CACHE_MAX = 10_000

/** Events after which a session's connection status may have changed. */
const SESSION_EVENTS: ReadonlySet<string> = new Set(['connection-status', 'pairing-code', 'qr-code', 'session-created', 'session-deleted'])

const INVALID_PHONE = 'must be a phone number with its country code: 10–15 digits (a leading +, spaces, dashes and parentheses are allowed)'

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
  const { prisma, owners, commands, publish, log } = deps
  const now = deps.now ?? Date.now
  // sessionId → the status being read or read less than CONNECTION_STATUS_MAX_AGE_MS ago. The
  // promise is stored, so concurrent requests share one read; a failed read is not kept.
  interface CachedStatus { at: number, status: Promise<ConnectionStatus>, value?: ConnectionStatus, refreshing?: boolean }
  const statusCache = new Map<string, CachedStatus>()

  function readIntoCache (sessionId: string): CachedStatus {
    if (statusCache.size >= CONNECTION_STATUS_CACHE_MAX) statusCache.clear()
    const entry: CachedStatus = { at: now(), status: readConnectionStatus(sessionId) }
    statusCache.set(sessionId, entry)
    entry.status.then(value => { entry.value = value }, () => { if (statusCache.get(sessionId) === entry) statusCache.delete(sessionId) })
    return entry
  }

  // The next read of an entry that is getting old, while the entry goes on answering. It takes the
  // entry's place only if nothing replaced or dropped the entry meanwhile (an announced change did:
  // a read begun before it may have seen the old state).
  function refreshAhead (sessionId: string, entry: CachedStatus): void {
    if (entry.refreshing) return
    entry.refreshing = true
    const next: CachedStatus = { at: now(), status: readConnectionStatus(sessionId) }
    next.status.then(
      value => {
        next.value = value
        if (statusCache.get(sessionId) === entry) statusCache.set(sessionId, next)
      },
      () => { entry.refreshing = false })
  }

  // The cached entry that may answer now (refreshing it ahead when it is getting old), if any.
  function usableEntry (sessionId: string): CachedStatus | undefined {
    const cached = statusCache.get(sessionId)
    if (cached === undefined || !(deps.cacheUsable?.() ?? true)) return undefined
    const age = now() - cached.at
    if (age < CONNECTION_STATUS_FRESH_MS) return cached
    if (age < CONNECTION_STATUS_MAX_AGE_MS) {
      refreshAhead(sessionId, cached)
      return cached
    }
    return undefined
  }

  async function readConnectionStatus (sessionId: string): Promise<ConnectionStatus> {
    const session = toSession(await load(sessionId))
    return {
      sessionId: session.sessionId,
      connected: session.connected,
      authMethod: session.authMethod,
      state: session.state,
      pairingCode: session.pairingCode,
      qrCode: session.qrCode,
      phoneNumber: session.phoneNumber,
      ownNumber: session.ownNumber,
      lastError: session.lastError
    }
  }

  async function find (sessionId: string): Promise<SessionView | null> {
    const [row, owner] = await Promise.all([
      prisma.session.findUnique({ where: { id: sessionId } }),
      owners.owner(sessionId)
    ])
    return row === null ? null : { row, owner }
  }

  async function load (sessionId: string): Promise<SessionView> {
    const view = await find(sessionId)
    if (view === null) throw notFound(sessionId)
    return view
  }

  async function exists (sessionId: string): Promise<void> {
    const row = await prisma.session.findUnique({ where: { id: sessionId }, select: { id: true } })
    if (row === null) throw notFound(sessionId)
  }

  function requirePairing (view: SessionView): void {
    if (view.row.authMethod !== 'pairing') {
      throw new AppError('SESSION_NOT_PAIRING', `Session ${view.row.id} links with a QR code, not a pairing code`)
    }
  }

  // The row's own claim counts here: a linked session's number cannot change, lease or not.
  function requireNotLinked (view: SessionView): void {
    if (view.row.state === 'connected') {
      throw new AppError('SESSION_ALREADY_CONNECTED', `Session ${view.row.id} is already connected`)
    }
  }

  return {
    find,
    load,

    /**
     * Inserts the session (the primary key decides a race), announces it, asks a worker to
     * start it and waits up to `startWaitMs` for its first answer. The row is kept whatever
     * the worker does: a worker that joins later picks up a session nobody owns.
     */
    async create (input: CreateSessionBody): Promise<Session> {
      const authMethod = input.authMethod ?? 'pairing'
      let phoneNumber: string | null = null
      if (input.phoneNumber !== undefined && input.phoneNumber.trim() !== '') {
        phoneNumber = normalizePhoneNumber(input.phoneNumber)
        if (phoneNumber === null) throw fieldError('body.phoneNumber', INVALID_PHONE)
      }
      if (authMethod === 'pairing' && phoneNumber === null) {
        throw fieldError('body.phoneNumber', 'is required when authMethod is pairing')
      }
      let row: SessionRow
      try {
        row = await prisma.session.create({
          data: { id: input.sessionId, name: input.sessionName, authMethod, phoneNumber, state: 'connecting' }
        })
      } catch (err) {
        if (isUniqueViolation(err)) throw new AppError('SESSION_EXISTS', `Session ${input.sessionId} already exists`)
        throw err
      }
      await publish('session-created', {
        sessionId: row.id,
        sessionName: row.name,
        authMethod: row.authMethod,
        state: row.state,
        phoneNumber: row.phoneNumber,
        createdAt: row.createdAt.toISOString()
      })
      try {
        await commands.send(CommandName.StartSession, { sessionId: row.id, reason: 'created' }, { waitMs: deps.startWaitMs })
      } catch (err) {
        if (!isAppError(err)) throw err
        if (err.code === 'NO_WORKER') {
          throw new AppError('NO_WORKER', `No worker is available to start session ${row.id}; it is saved and starts once a worker is up`)
        }
        if (err.code === 'DEPENDENCY_UNAVAILABLE') throw err
        // WORKER_TIMEOUT: the start is queued and goes on; any other answer shows in the row.
        if (err.code !== 'WORKER_TIMEOUT') log.warn({ sessionId: row.id, code: err.code }, 'worker refused to start the session')
      }
      statusCache.delete(row.id)
      return toSession(await load(row.id))
    },

    /** Sessions oldest first (those the key sees); whole, or one page with its cursor. */
    async list (page: Page | null, scope: KeyScope = ADMIN_SCOPE): Promise<{ items: Session[], nextCursor?: string | null }> {
      const after = page?.after ?? null
      const where = after === null
        ? {}
        : (() => {
            const createdAt = cursorDate(after, 0)
            const id = cursorString(after, 1)
            return { OR: [{ createdAt: { gt: createdAt } }, { createdAt, id: { gt: id } }] }
          })()
      const inScope = sessionsWhere(scope)
      const rows = await prisma.session.findMany({
        where: inScope === undefined ? where : { AND: [where, inScope] },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        ...(page === null ? {} : { take: page.take + 1 })
      })
      const { items, nextCursor } = page === null
        ? { items: rows, nextCursor: undefined }
        : paginate(rows, page.take, r => [r.createdAt.toISOString(), r.id])
      const ownerMap = await owners.owners(items.map(r => r.id))
      const sessions = items.map(row => toSession({ row, owner: ownerMap.get(row.id) ?? null }))
      return nextCursor === undefined ? { items: sessions } : { items: sessions, nextCursor }
    },

    async get (sessionId: string): Promise<Session> {
      return toSession(await load(sessionId))
    },

    /** The connection status, at most {@link CONNECTION_STATUS_MAX_AGE_MS} old and never older than the last announced change. */
    connectionStatus (sessionId: string): Promise<ConnectionStatus> {
      const entry = usableEntry(sessionId)
      return entry !== undefined ? entry.status : readIntoCache(sessionId).status
    },

    /**
     * The connection status when memory can answer it at once (what connectionStatus would
     * answer, already read), else undefined: the route then answers without waiting on a promise.
     */
    connectionStatusNow (sessionId: string): ConnectionStatus | undefined {
      return usableEntry(sessionId)?.value
    },

    /** Forgets what is cached of a session (its state changed). */
    changed (sessionId: string): void {
      statusCache.delete(sessionId)
    },

    /**
     * The owner (or any live worker) logs out, deletes the rows and announces it. With no
     * worker alive nothing can be connected, so the rows are deleted here.
     */
    async remove (sessionId: string): Promise<{ sessionId: string, deleted: true }> {
      await exists(sessionId)
      try {
        await commands.send(CommandName.DeleteSession, { sessionId })
      } catch (err) {
        if (!isAppError(err) || err.code !== 'NO_WORKER') throw err
        const { count } = await prisma.session.deleteMany({ where: { id: sessionId } })
        if (count > 0) await publish('session-deleted', { sessionId })
      }
      statusCache.delete(sessionId)
      return { sessionId, deleted: true }
    },

    async restart (sessionId: string): Promise<Session> {
      await exists(sessionId)
      await commands.send(CommandName.RestartSession, { sessionId })
      statusCache.delete(sessionId)
      return toSession(await load(sessionId))
    },

    /** The worker stores the number and restarts the pairing with it. */
    async updatePhoneNumber (sessionId: string, input: string): Promise<Session> {
      const phoneNumber = normalizePhoneNumber(input)
      if (phoneNumber === null) throw fieldError('body.phoneNumber', INVALID_PHONE)
      const view = await load(sessionId)
      requirePairing(view)
      requireNotLinked(view)
      await commands.send(CommandName.UpdatePhoneNumber, { sessionId, phoneNumber })
      statusCache.delete(sessionId)
      return toSession(await load(sessionId))
    },

    async pairingCode (sessionId: string): Promise<PairingCode> {
      const { row } = await load(sessionId)
      if (row.pairingCode === null || row.state === 'connected') {
        throw new AppError('PAIRING_CODE_NOT_FOUND', `Session ${sessionId} has no pairing code right now`)
      }
      return { sessionId, pairingCode: row.pairingCode, phoneNumber: row.phoneNumber }
    },

    /** Asks the worker for a fresh code and answers it. */
    async requestPairingCode (sessionId: string): Promise<PairingCode> {
      const view = await load(sessionId)
      requirePairing(view)
      requireNotLinked(view)
      const { pairingCode } = await commands.send(CommandName.RequestPairingCode, { sessionId })
      statusCache.delete(sessionId)
      return { sessionId, pairingCode, phoneNumber: view.row.phoneNumber }
    }
  }
}

export type SessionsService = ReturnType<typeof createSessionsService>

export function notFound (sessionId: string): AppError {
  return new AppError('SESSION_NOT_FOUND', `Session ${sessionId} not found`)
}

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
    if (SESSION_EVENTS.has(event.event)) service.changed(event.data.sessionId)
  })
  fastify.addHook('onClose', async () => off())
}, { name: 'sessions', dependencies: ['command-bus', 'event-publisher', 'event-relay'] })
