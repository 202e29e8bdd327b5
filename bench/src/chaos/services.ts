// The chaos run's own PostgreSQL cluster and Redis server, on free loopback ports, so its restart
// and flush faults never touch the shared services other work on the machine uses.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import pg from 'pg'
import { sleep, until } from '../harness.ts'

const PG_BIN = '/usr/lib/postgresql/15/bin'

/** A port nothing listens on right now. */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

/** Runs a Postgres binary as the `postgres` OS user when this process is root (initdb refuses root). */
function pgCommand (bin: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', join(PG_BIN, bin), ...args]] : [join(PG_BIN, bin), args]
}
function pgRun (bin: string, args: string[]) {
  const [cmd, argv] = pgCommand(bin, args)
  return execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] }).toString()
}

/** A Postgres cluster of our own: initdb into a temporary directory, trust auth on loopback. */
export async function startOwnPostgres () {
  const dir = mkdtempSync('/tmp/wss-chaos-pg-')
  chmodSync(dir, 0o777)
  const data = join(dir, 'data')
  mkdirSync(data)
  if (process.getuid?.() === 0) execFileSync('chown', ['-R', 'postgres:postgres', dir])
  const port = await freePort()
  pgRun('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8'])
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`
  pgRun('pg_ctl', ['-D', data, '-l', join(dir, 'postgres.log'), '-o', opts, '-w', 'start'])
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`
  return {
    url,
    dir,
    /** `pg_ctl restart -m fast`: every connection is cut, running transactions are rolled back. */
    restart () { pgRun('pg_ctl', ['-D', data, '-l', join(dir, 'postgres.log'), '-o', opts, '-m', 'fast', '-w', 'restart']) },
    /** Ends every other backend of the server (`pg_terminate_backend`); returns how many. */
    async terminateBackends (): Promise<number> {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        const res = await client.query("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
        return res.rows[0].n as number
      } finally { await client.end() }
    },
    stop () {
      try { pgRun('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']) } catch { /* already down */ }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/**
 * A Redis server of our own with an append-only file, so a restart keeps its data unless flushed
 * (`persist: false`: no file, for a benchmark that only wants its own command counts).
 */
export async function startOwnRedis (opts: { persist?: boolean } = {}) {
  const dir = mkdtempSync('/tmp/wss-chaos-redis-')
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  let proc: ChildProcess | undefined
  const start = async () => {
    const persistence = opts.persist === false ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', 'always']
    proc = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, ...persistence, '--save', ''], { stdio: 'ignore' })
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    probe.on('error', () => undefined) // refused until the server listens
    const up = await until(async () => { await probe.connect().catch(() => undefined); return (await probe.ping()) === 'PONG' }, 10_000, 50)
    probe.disconnect()
    if (!up) throw new Error('own redis-server did not start')
  }
  const stop = async () => {
    const p = proc
    if (!p || p.exitCode !== null) return
    const exited = new Promise(resolve => p.once('exit', resolve))
    p.kill('SIGTERM') // Redis flushes its append-only file on SIGTERM
    await Promise.race([exited, sleep(10_000)])
  }
  await start()
  return {
    url,
    /** Stops and starts the server; `flush` deletes its files in between (a Redis that lost its data). */
    async restart (flush: boolean) {
      await stop()
      if (flush) { rmSync(dir, { recursive: true, force: true }); mkdirSync(dir) }
      await start()
    },
    async stop () { await stop(); rmSync(dir, { recursive: true, force: true }) }
  }
}

export type OwnPostgres = Awaited<ReturnType<typeof startOwnPostgres>>
export type OwnRedis = Awaited<ReturnType<typeof startOwnRedis>>
