// What the reads and writes of one opened session share: its identity and generation, the queue
// that runs its writes one at a time, and the fencing every write goes through.
import { BufferJSON } from '@whiskeysockets/baileys'
import { StaleGenerationError, withSessionGeneration, type Generation, type PrismaClient, type Tx } from '@wss/db'
import type { AuthStoreLogger, SessionAuth } from './auth-store.ts'
import type { SharedKeyCache } from './key-cache.ts'

export const serialize = (value: unknown): string => JSON.stringify(value, BufferJSON.replacer)

/** What the reads and writes of one opened session share. */
export interface SessionContext {
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

export interface WriteQueue {
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
export function createWriteQueue (): WriteQueue {
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

export const fenced = <T>(ctx: SessionContext, fn: (tx: Tx) => Promise<T>) =>
  withSessionGeneration(ctx.prisma, ctx.sessionId, ctx.generation, fn, ctx.txOptions)

export const dropped = (ctx: SessionContext, what: string, count: number) => {
  ctx.logger.warn({ sessionId: ctx.sessionId, count }, `${what} after clear() ignored`)
  return Promise.resolve()
}

export const refused = (ctx: SessionContext, err: unknown, what: string) => {
  if (err instanceof StaleGenerationError) {
    ctx.logger.warn({ sessionId: ctx.sessionId, generation: String(ctx.generation) }, `${what} refused: generation is no longer current`)
  }
}
