import { randomUUID } from 'node:crypto'
import { Agent } from 'node:https'
import { Writable } from 'node:stream'
import { makeWASocket, type ConnectionState, type WASocket } from '@whiskeysockets/baileys'
import { createPrisma, dropDatabase, migrate, type PrismaClient } from '@wss/db'
import type { SimulatorSettings } from '@wss/wa-sim'
import { silentLogger, trustSimulator } from '@wss/wa-sim/testing'
import { pino } from 'pino'
import type { SessionAuth } from '../../src/auth/index.ts'

interface Teardown {
  teardown(fn: () => unknown): void
}

const serverUrl = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

/** A migrated database of its own for one test file, dropped at teardown. */
export async function authDatabase (t: Teardown): Promise<{ databaseUrl: string; prisma: PrismaClient }> {
  const url = new URL(serverUrl)
  url.pathname = `/wss_auth_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`
  const databaseUrl = url.toString()
  t.teardown(() => dropDatabase(databaseUrl))
  await migrate(databaseUrl)
  return { databaseUrl, prisma: prismaOn(t, databaseUrl) }
}

/** Another client on the same database (a second worker process), closed at teardown. */
export function prismaOn (t: Teardown, databaseUrl: string): PrismaClient {
  const prisma = createPrisma(databaseUrl, { poolSize: 4 })
  t.teardown(() => prisma.$disconnect())
  return prisma
}

/** A client that counts every statement it runs, those inside transactions included. */
export function countingPrisma (prisma: PrismaClient): { prisma: PrismaClient; count(): number } {
  let n = 0
  const extended = prisma.$extends({
    query: {
      async $allOperations ({ args, query }) {
        n++
        return query(args)
      },
    },
  })
  return { prisma: extended as unknown as PrismaClient, count: () => n }
}

/** Creates the session row that auth state hangs off. */
export async function createSession (prisma: PrismaClient, generation = 1, id = `s-${randomUUID()}`): Promise<string> {
  await prisma.session.create({ data: { id, name: id, authMethod: 'qrcode', generation: BigInt(generation) } })
  return id
}

/** Every auth_keys row of a session as `type/id -> value text`, to compare snapshots. */
export async function keyRows (prisma: PrismaClient, sessionId: string): Promise<Map<string, string>> {
  const rows = await prisma.$queryRaw<Array<{ type: string; id: string; value: string }>>`
    SELECT type, id, value::text AS value FROM auth_keys WHERE session_id = ${sessionId} ORDER BY type, id`
  return new Map(rows.map((r) => [`${r.type}/${r.id}`, r.value]))
}

export async function credsText (prisma: PrismaClient, sessionId: string): Promise<string | undefined> {
  const rows = await prisma.$queryRaw<Array<{ creds: string }>>`
    SELECT creds::text AS creds FROM auth_creds WHERE session_id = ${sessionId}`
  return rows[0]?.creds
}

export interface LogEntry {
  level: number
  msg: string
  [field: string]: unknown
}

/** A debug-level pino logger that keeps every line, parsed and raw. */
export function captureLogger () {
  const entries: LogEntry[] = []
  const lines: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue
        lines.push(line)
        entries.push(JSON.parse(line) as LogEntry)
      }
      done()
    },
  })
  return { logger: pino({ level: 'debug' }, stream), entries, lines }
}

export const silentPino = () => pino({ level: 'silent' })

export interface AuthSocket {
  sock: WASocket
  updates: Partial<ConnectionState>[]
  waitFor(pred: (u: Partial<ConnectionState>) => boolean, timeoutMs?: number): Promise<Partial<ConnectionState>>
  /** Resolves with the status code of the close. */
  closed: Promise<number | undefined>
  /** Errors of saveCreds calls made on creds.update. */
  saveErrors: unknown[]
  end(): void
}

/** One real Baileys socket on a SessionAuth, saving creds on every creds.update as the worker does. */
export function openAuthSocket (settings: SimulatorSettings, auth: SessionAuth): AuthSocket {
  trustSimulator(settings)
  const sock = makeWASocket({
    waWebSocketUrl: settings.WA_WS_URL,
    auth: auth.state,
    logger: silentLogger,
    fetchAgent: new Agent({ ca: settings.WA_MEDIA_CA }),
    shouldSyncHistoryMessage: () => false,
    syncFullHistory: false,
    markOnlineOnConnect: false,
    fireInitQueries: false,
  })
  const saveErrors: unknown[] = []
  sock.ev.on('creds.update', () => {
    auth.saveCreds().catch((err: unknown) => saveErrors.push(err))
  })
  const updates: Partial<ConnectionState>[] = []
  const waiters = new Set<{ pred: (u: Partial<ConnectionState>) => boolean; resolve: (u: Partial<ConnectionState>) => void }>()
  let resolveClosed!: (code: number | undefined) => void
  const closed = new Promise<number | undefined>((resolve) => {
    resolveClosed = resolve
  })
  sock.ev.on('connection.update', (update) => {
    updates.push(update)
    for (const w of waiters) {
      if (w.pred(update)) {
        waiters.delete(w)
        w.resolve(update)
      }
    }
    if (update.connection === 'close') {
      resolveClosed((update.lastDisconnect?.error as { output?: { statusCode?: number } } | undefined)?.output?.statusCode)
    }
  })
  return {
    sock,
    updates,
    closed,
    saveErrors,
    waitFor (pred, timeoutMs = 20_000) {
      const past = updates.find(pred)
      if (past) return Promise.resolve(past)
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          resolve: (u: Partial<ConnectionState>) => {
            clearTimeout(timer)
            resolve(u)
          },
        }
        const timer = setTimeout(() => {
          waiters.delete(w)
          reject(new Error('timed out waiting for connection update'))
        }, timeoutMs)
        waiters.add(w)
      })
    },
    end () {
      sock.end(undefined)
    },
  }
}

/** Polls until the check passes or the time is up. */
export async function eventually (check: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 50) {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  return false
}
