import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from '../generated/client.ts'
import type { Prisma } from '../generated/client.ts'

export interface CreatePrismaOptions {
  /** Maximum connections in the pg pool (default 10). */
  poolSize?: number
  /** Give up acquiring a connection after this long (default 10 s). */
  connectionTimeoutMs?: number
  /** Close idle pool connections after this long (default 30 s). */
  idleTimeoutMs?: number
  /**
   * Postgres ends a session that sits inside a transaction this long without a statement (default
   * 60 s; 0 = not sent: PgBouncer refuses it as a startup parameter). Interactive transactions end within their own timeout (30 s at most here), so
   * one idle longer belongs to a process that froze or lost track of it: without this it would keep
   * its row locks — a session row locked by a frozen worker blocks that session's takeover.
   */
  idleInTransactionTimeoutMs?: number
  /** Shown in pg_stat_activity, e.g. `wss-worker`. */
  applicationName?: string
  /** Prisma log levels to emit as events / to stdout. */
  log?: Prisma.LogLevel[]
  /** Errors of idle pool connections (a restarted server); without it they are only dropped. */
  onPoolError?: (err: Error) => void
}

/**
 * A PrismaClient on @prisma/adapter-pg (no query engine binary). The caller
 * owns it: `await prisma.$disconnect()` at shutdown closes the pool.
 */
export function createPrisma (databaseUrl: string, opts: CreatePrismaOptions = {}): PrismaClient {
  const adapter = new PrismaPg(
    {
      connectionString: databaseUrl,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: opts.connectionTimeoutMs ?? 10_000,
      idleTimeoutMillis: opts.idleTimeoutMs ?? 30_000,
      idle_in_transaction_session_timeout: opts.idleInTransactionTimeoutMs ?? 60_000,
      application_name: opts.applicationName,
    },
    { onPoolError: opts.onPoolError ?? (() => {}) }
  )
  return new PrismaClient({ adapter, log: opts.log })
}

/** A transaction client, as handed to `$transaction(async (tx) => ...)`. */
export type Tx = Prisma.TransactionClient
