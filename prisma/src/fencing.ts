// Fencing for session state. Every process that owns a session holds the
// generation it took the session with; the session row stores the newest one.
// A write of session state (auth creds and keys, session fields) is
// checked against the row in the same transaction as the write, so the late
// write of an owner that lost the session is refused, never applied. Status
// rows are not fenced: a status's send is idempotent by its id (ARCHITECTURE.md).
import type { Prisma, PrismaClient } from '../generated/client.ts'

export type Generation = bigint | number

/** A write carried a generation older than the session's: the writer no longer owns the session. */
export class StaleGenerationError extends Error {
  readonly code = 'STALE_GENERATION'
  readonly sessionId: string
  readonly generation: bigint

  constructor (sessionId: string, generation: Generation) {
    super(`session ${sessionId}: generation ${generation} is no longer current`)
    this.name = 'StaleGenerationError'
    this.sessionId = sessionId
    this.generation = BigInt(generation)
  }
}

/**
 * Inside a transaction: throws StaleGenerationError unless the session row
 * exists with exactly this generation. The row's share lock is held until the
 * transaction ends, so a takeover (which updates the generation) waits for
 * this write to commit, and a write that waited for a takeover sees the new
 * generation and is refused. It does not rewrite the row, which matters on the
 * auth-key path that writes on almost every message.
 */
export async function assertSessionGeneration (
  tx: Prisma.TransactionClient,
  sessionId: string,
  generation: Generation
): Promise<void> {
  const rows = await tx.$queryRaw<Array<{ ok: number }>>`
    SELECT 1 AS ok FROM sessions WHERE id = ${sessionId} AND generation = ${BigInt(generation)} FOR SHARE`
  if (rows.length !== 1) throw new StaleGenerationError(sessionId, generation)
}

/**
 * Runs `fn` in a transaction that first checks the session's generation
 * (assertSessionGeneration). Given a transaction client instead of a
 * PrismaClient, it checks and runs inside that transaction.
 */
export async function withSessionGeneration<T> (
  db: PrismaClient | Prisma.TransactionClient,
  sessionId: string,
  generation: Generation,
  fn: (tx: Prisma.TransactionClient) => Promise<T>,
  txOptions?: { maxWait?: number; timeout?: number; isolationLevel?: Prisma.TransactionIsolationLevel }
): Promise<T> {
  if ('$transaction' in db) {
    return db.$transaction(async (tx) => {
      await assertSessionGeneration(tx, sessionId, generation)
      return fn(tx)
    }, txOptions)
  }
  await assertSessionGeneration(db, sessionId, generation)
  return fn(db)
}

/**
 * Updates the session row only while its generation is still the writer's,
 * in one statement; throws StaleGenerationError otherwise.
 */
export async function updateSessionFenced (
  db: PrismaClient | Prisma.TransactionClient,
  sessionId: string,
  generation: Generation,
  data: Prisma.SessionUpdateManyMutationInput
): Promise<void> {
  const { count } = await db.session.updateMany({
    where: { id: sessionId, generation: BigInt(generation) },
    data,
  })
  if (count !== 1) throw new StaleGenerationError(sessionId, generation)
}

/**
 * A new owner takes the session: the generation moves one forward, and a row that said `connected`
 * says `connecting` in the same statement (the new owner has not connected yet, so the row never
 * shows `connected` under it). Resolves the new generation, or null when the session is gone.
 */
export async function takeSessionGeneration (
  db: PrismaClient | Prisma.TransactionClient,
  sessionId: string
): Promise<bigint | null> {
  const rows = await db.$queryRaw<Array<{ generation: bigint }>>`
    UPDATE sessions SET generation = generation + 1, updated_at = now(),
      state = CASE WHEN state = 'connected' THEN 'connecting'::session_state ELSE state END
    WHERE id = ${sessionId} RETURNING generation`
  return rows[0]?.generation ?? null
}

/**
 * Records that a new owner took the session with `generation` (for example
 * the lease's fencing number). Generations only move forward: returns false,
 * changing nothing, when the row already holds this or a newer one, or when
 * the session does not exist.
 */
export async function claimSessionGeneration (
  db: PrismaClient | Prisma.TransactionClient,
  sessionId: string,
  generation: Generation
): Promise<boolean> {
  const { count } = await db.session.updateMany({
    where: { id: sessionId, generation: { lt: BigInt(generation) } },
    data: { generation: BigInt(generation) },
  })
  return count === 1
}
