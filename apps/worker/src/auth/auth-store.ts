// Baileys auth state in Postgres: the creds in one auth_creds row, the Signal
// keys in auth_keys rows keyed (session, type, id). Every write carries the
// owner's generation and is checked in its own transaction
// (withSessionGeneration), so an owner that lost the session cannot write.
import {
  BufferJSON,
  initAuthCreds,
  type AuthenticationCreds,
  type SignalDataSet,
  type SignalDataTypeMap,
  type SignalKeyStore,
} from '@whiskeysockets/baileys'
import type { Generation, PrismaClient } from '@wss/db'
import type { Logger } from 'pino'
import { createSharedKeyCache, type SharedKeyCache } from './key-cache.ts'
import { createKeyStore } from './key-store.ts'
import { createWriteQueue, dropped, fenced, refused, serialize, type SessionContext } from './session-context.ts'

export type AuthStoreLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>

export interface AuthStoreDeps {
  prisma: PrismaClient
  logger: AuthStoreLogger
  /** The process-wide key cache; one is created when omitted. */
  cache?: SharedKeyCache
  /** Interactive transaction limits of each write (Prisma's defaults are 2 s / 5 s). */
  transaction?: { maxWait?: number; timeout?: number }
}

/** Baileys' SignalKeyStore, with both methods always asynchronous. */
export interface PostgresKeyStore extends SignalKeyStore {
  get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]): Promise<{ [id: string]: SignalDataTypeMap[T] }>
  /** Writes the batch in one transaction, fenced by the generation; null values delete. */
  set(data: SignalDataSet): Promise<void>
}

export interface SessionAuth {
  /** `{ creds, keys }` for makeWASocket({ auth }) (an AuthenticationState). */
  state: { creds: AuthenticationCreds; keys: PostgresKeyStore }
  /** Writes the whole creds object (call it on every `creds.update`). */
  saveCreds(): Promise<void>
  /**
   * Deletes the creds and every key of the session (the phone removed the
   * device: 401). Writes made through this SessionAuth afterwards are ignored,
   * so a late creds.update of the dead socket cannot bring the creds back;
   * open the session again for fresh creds.
   */
  clear(): Promise<void>
  /** Whether creds were stored when the session was opened (false: fresh creds, never linked). */
  hasCreds: boolean
  readonly sessionId: string
  readonly generation: Generation
}

export interface AuthStore {
  /** Loads a session's auth state for the owner holding `generation`. */
  open(sessionId: string, generation: Generation): Promise<SessionAuth>
  /** Drops a session's cached keys (call it when the worker lets the session go). */
  evictSession(sessionId: string): void
  readonly cache: SharedKeyCache
}

const DEFAULT_TX = { maxWait: 10_000, timeout: 30_000 }

export function createAuthStore (deps: AuthStoreDeps): AuthStore {
  const { prisma, logger } = deps
  const cache = deps.cache ?? createSharedKeyCache()
  const txOptions = { ...DEFAULT_TX, ...deps.transaction }

  async function open (sessionId: string, generation: Generation): Promise<SessionAuth> {
    // Another owner may have written this session since we last cached it.
    cache.evictSession(sessionId)
    const { creds, hasCreds } = await loadCreds(prisma, sessionId)
    logger.debug({ sessionId, generation: String(generation), hasCreds }, 'auth state opened')
    const ctx: SessionContext = { prisma, logger, cache, txOptions, sessionId, generation, writes: createWriteQueue(), cleared: false }
    const keys = createKeyStore(ctx)
    const auth: SessionAuth = {
      state: { creds, keys },
      saveCreds: createCredsSaver(ctx),
      clear: () => clear(ctx),
      hasCreds,
      sessionId,
      generation,
    }
    ctx.auth = auth
    return auth
  }

  return {
    open,
    evictSession: (sessionId) => cache.evictSession(sessionId),
    cache,
  }
}

async function loadCreds (prisma: PrismaClient, sessionId: string): Promise<{ creds: AuthenticationCreds; hasCreds: boolean }> {
  const rows = await prisma.$queryRaw<Array<{ creds: string }>>`
    SELECT creds::text AS creds FROM auth_creds WHERE session_id = ${sessionId}`
  const hasCreds = rows.length === 1
  const creds: AuthenticationCreds = hasCreds ? JSON.parse(rows[0]!.creds, BufferJSON.reviver) : initAuthCreds()
  return { creds, hasCreds }
}

/**
 * A save that has not started yet writes the newest creds anyway, so
 * callers that arrive meanwhile share it instead of queueing another.
 */
function createCredsSaver (ctx: SessionContext): () => Promise<void> {
  const { sessionId } = ctx
  let pendingSave: Promise<void> | undefined
  return function saveCreds (): Promise<void> {
    if (ctx.cleared) return dropped(ctx, 'auth creds write', 1)
    if (pendingSave) return pendingSave
    const save = ctx.writes.run(async () => {
      pendingSave = undefined
      const text = serialize(ctx.auth!.state.creds)
      try {
        await fenced(ctx, async (tx) => {
          await tx.$executeRaw`
            INSERT INTO auth_creds (session_id, creds, updated_at)
            VALUES (${sessionId}, ${text}::jsonb, now())
            ON CONFLICT (session_id) DO UPDATE SET creds = EXCLUDED.creds, updated_at = EXCLUDED.updated_at`
        })
      } catch (err) {
        refused(ctx, err, 'auth creds write')
        throw err
      }
      ctx.logger.debug({ sessionId }, 'auth creds written')
    })
    pendingSave = save
    return save
  }
}

function clear (ctx: SessionContext): Promise<void> {
  const { sessionId } = ctx
  ctx.cleared = true
  return ctx.writes.run(async () => {
    try {
      const counts = await fenced(ctx, async (tx) => {
        const keyRows = await tx.$executeRaw`DELETE FROM auth_keys WHERE session_id = ${sessionId}`
        const credRows = await tx.$executeRaw`DELETE FROM auth_creds WHERE session_id = ${sessionId}`
        return { keys: keyRows, creds: credRows }
      })
      ctx.auth!.hasCreds = false
      ctx.logger.info({ sessionId, deletedKeys: counts.keys, deletedCreds: counts.creds }, 'auth state cleared')
    } catch (err) {
      refused(ctx, err, 'auth state clear')
      throw err
    } finally {
      ctx.cache.evictSession(sessionId)
    }
  })
}
