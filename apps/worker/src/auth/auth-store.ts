// Baileys auth state in Postgres: the creds in one auth_creds row, the Signal
// keys in auth_keys rows keyed (session, type, id). Every write carries the
// owner's generation and is checked in its own transaction
// (withSessionGeneration), so an owner that lost the session cannot write.
import { performance } from 'node:perf_hooks'
import {
  BufferJSON,
  initAuthCreds,
  proto,
  type AuthenticationCreds,
  type SignalDataSet,
  type SignalDataTypeMap,
  type SignalKeyStore,
} from '@whiskeysockets/baileys'
import { StaleGenerationError, withSessionGeneration, type Generation, type PrismaClient, type Tx } from '@wss/db'
import type { Logger } from 'pino'
import { createSharedKeyCache, type SharedKeyCache } from './key-cache.ts'

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

const serialize = (value: unknown): string => JSON.stringify(value, BufferJSON.replacer)

function revive<T extends keyof SignalDataTypeMap> (type: T, text: string): SignalDataTypeMap[T] {
  const value: unknown = JSON.parse(text, BufferJSON.reviver)
  // As useMultiFileAuthState does: Baileys expects a protobuf instance here.
  if (type === 'app-state-sync-key') {
    return proto.Message.AppStateSyncKeyData.fromObject(value as object) as unknown as SignalDataTypeMap[T]
  }
  return value as SignalDataTypeMap[T]
}

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
    const keys: PostgresKeyStore = {
      get: (type, ids) => readKeys(ctx, type, ids),
      set: (data) => writeKeys(ctx, data),
    }
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

/** What the reads and writes of one opened session share. */
interface SessionContext {
  prisma: PrismaClient
  logger: AuthStoreLogger
  cache: SharedKeyCache
  txOptions: { maxWait?: number; timeout?: number }
  sessionId: string
  generation: Generation
  writes: WriteQueue
  /**
   * Set when clear() is called: writes queued before it run (and are wiped),
   * writes asked for after it are dropped.
   */
  cleared: boolean
  /** The SessionAuth handed out, set as soon as it is built. */
  auth?: SessionAuth
}

async function loadCreds (prisma: PrismaClient, sessionId: string): Promise<{ creds: AuthenticationCreds; hasCreds: boolean }> {
  const rows = await prisma.$queryRaw<Array<{ creds: string }>>`
    SELECT creds::text AS creds FROM auth_creds WHERE session_id = ${sessionId}`
  const hasCreds = rows.length === 1
  const creds: AuthenticationCreds = hasCreds ? JSON.parse(rows[0]!.creds, BufferJSON.reviver) : initAuthCreds()
  return { creds, hasCreds }
}

interface WriteQueue {
  /** Writes asked for so far. */
  readonly queued: number
  /** Writes finished so far (committed or failed). */
  readonly settled: number
  run<T>(fn: () => Promise<T>): Promise<T>
}

/**
 * Writes of one session run one at a time, in call order: the cache is
 * updated in commit order, and overlapping batches cannot deadlock.
 */
function createWriteQueue (): WriteQueue {
  let tail: Promise<unknown> = Promise.resolve()
  let queued = 0
  let settled = 0
  return {
    get queued () { return queued },
    get settled () { return settled },
    run <T>(fn: () => Promise<T>): Promise<T> {
      queued++
      const run = tail.then(fn, fn).finally(() => {
        settled++
      })
      tail = run.catch(() => {})
      return run
    },
  }
}

const fenced = <T>(ctx: SessionContext, fn: (tx: Tx) => Promise<T>) =>
  withSessionGeneration(ctx.prisma, ctx.sessionId, ctx.generation, fn, ctx.txOptions)

const dropped = (ctx: SessionContext, what: string, count: number) => {
  ctx.logger.warn({ sessionId: ctx.sessionId, count }, `${what} after clear() ignored`)
  return Promise.resolve()
}

const refused = (ctx: SessionContext, err: unknown, what: string) => {
  if (err instanceof StaleGenerationError) {
    ctx.logger.warn({ sessionId: ctx.sessionId, generation: String(ctx.generation) }, `${what} refused: generation is no longer current`)
  }
}

async function readKeys<T extends keyof SignalDataTypeMap> (ctx: SessionContext, type: T, ids: string[]): Promise<{ [id: string]: SignalDataTypeMap[T] }> {
  const { prisma, cache, sessionId, generation, writes } = ctx
  const out: { [id: string]: SignalDataTypeMap[T] } = {}
  const missing: string[] = []
  for (const id of new Set(ids)) {
    const hit = cache.get(sessionId, generation, type, id)
    if (hit === undefined) missing.push(id)
    else if (hit !== null) out[id] = revive(type, hit)
  }
  if (missing.length === 0) return out

  // A write that overlaps this read may commit after the read saw the
  // old value; only a read that no write overlapped fills the cache.
  const idle = writes.queued === writes.settled
  const queuedBefore = writes.queued
  const rows = await prisma.$queryRaw<Array<{ id: string; value: string }>>`
    SELECT id, value::text AS value FROM auth_keys
    WHERE session_id = ${sessionId} AND type = ${type} AND id = ANY(${missing}::text[])`
  const fill = idle && writes.queued === queuedBefore
  const found = new Map(rows.map((r) => [r.id, r.value]))
  for (const id of missing) {
    const text = found.get(id)
    if (text !== undefined) out[id] = revive(type, text)
    if (fill) cache.set(sessionId, generation, type, id, text ?? null)
  }
  return out
}

/** A key batch as parallel arrays: upserts (serialized values) and deletes (null values). */
interface KeyBatch {
  upTypes: string[]
  upIds: string[]
  upValues: string[]
  delTypes: string[]
  delIds: string[]
}

function toKeyBatch (data: SignalDataSet): KeyBatch {
  const batch: KeyBatch = { upTypes: [], upIds: [], upValues: [], delTypes: [], delIds: [] }
  for (const [type, entries] of Object.entries(data)) {
    for (const [id, value] of Object.entries(entries ?? {})) {
      if (value === null || value === undefined) {
        batch.delTypes.push(type)
        batch.delIds.push(id)
      } else {
        batch.upTypes.push(type)
        batch.upIds.push(id)
        batch.upValues.push(serialize(value))
      }
    }
  }
  return batch
}

function writeKeys (ctx: SessionContext, data: SignalDataSet): Promise<void> {
  const batch = toKeyBatch(data)
  if (batch.upIds.length === 0 && batch.delIds.length === 0) return Promise.resolve()
  if (ctx.cleared) return dropped(ctx, 'auth keys write', batch.upIds.length + batch.delIds.length)
  return ctx.writes.run(() => writeKeyBatch(ctx, batch))
}

async function writeKeyBatch (ctx: SessionContext, batch: KeyBatch): Promise<void> {
  const { cache, sessionId, generation } = ctx
  const { upTypes, upIds, upValues, delTypes, delIds } = batch
  const started = performance.now()
  try {
    await fenced(ctx, (tx) => upsertAndDeleteKeys(tx, sessionId, batch))
  } catch (err) {
    // Committed or not (a connection lost at COMMIT leaves it unknown),
    // the next read of these keys goes to the database.
    for (let i = 0; i < upIds.length; i++) cache.delete(sessionId, generation, upTypes[i]!, upIds[i]!)
    for (let i = 0; i < delIds.length; i++) cache.delete(sessionId, generation, delTypes[i]!, delIds[i]!)
    refused(ctx, err, 'auth keys write')
    throw err
  }
  for (let i = 0; i < upIds.length; i++) cache.set(sessionId, generation, upTypes[i]!, upIds[i]!, upValues[i]!)
  for (let i = 0; i < delIds.length; i++) cache.set(sessionId, generation, delTypes[i]!, delIds[i]!, null)
  ctx.logger.debug(
    {
      sessionId,
      types: [...new Set([...upTypes, ...delTypes])],
      upserted: upIds.length,
      deleted: delIds.length,
      ms: Math.round(performance.now() - started),
    },
    'auth keys written'
  )
}

async function upsertAndDeleteKeys (tx: Tx, sessionId: string, batch: KeyBatch): Promise<void> {
  const { upTypes, upIds, upValues, delTypes, delIds } = batch
  if (upIds.length > 0) {
    await tx.$executeRaw`
      INSERT INTO auth_keys (session_id, type, id, value)
      SELECT ${sessionId}, k.type, k.id, k.value::jsonb
      FROM unnest(${upTypes}::text[], ${upIds}::text[], ${upValues}::text[]) AS k(type, id, value)
      ON CONFLICT (session_id, type, id) DO UPDATE SET value = EXCLUDED.value`
  }
  if (delIds.length > 0) {
    await tx.$executeRaw`
      DELETE FROM auth_keys AS a
      USING unnest(${delTypes}::text[], ${delIds}::text[]) AS d(type, id)
      WHERE a.session_id = ${sessionId} AND a.type = d.type AND a.id = d.id`
  }
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
