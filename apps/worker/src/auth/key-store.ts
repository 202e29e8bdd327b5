// The Signal keys of one session: reads through the shared cache, batched writes fenced by the
// generation and queued behind the session's other writes.
import { performance } from 'node:perf_hooks'
import { BufferJSON, proto, type SignalDataSet, type SignalDataTypeMap } from '@whiskeysockets/baileys'
import type { Tx } from '@wss/db'
import type { PostgresKeyStore } from './auth-store.ts'
import { dropped, fenced, refused, serialize, type SessionContext } from './session-context.ts'

/** The key store of an opened session. */
export function createKeyStore (ctx: SessionContext): PostgresKeyStore {
  return {
    get: (type, ids) => readKeys(ctx, type, ids),
    set: (data) => writeKeys(ctx, data),
  }
}

function revive<T extends keyof SignalDataTypeMap> (type: T, text: string): SignalDataTypeMap[T] {
  const value: unknown = JSON.parse(text, BufferJSON.reviver)
  // As useMultiFileAuthState does: Baileys expects a protobuf instance here.
  if (type === 'app-state-sync-key') {
    return proto.Message.AppStateSyncKeyData.fromObject(value as object) as unknown as SignalDataTypeMap[T]
  }
  return value as SignalDataTypeMap[T]
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
