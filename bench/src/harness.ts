// The real stack for a benchmark: the simulator, API nodes and worker processes as separate
// processes, on a database and a Redis prefix of the benchmark's own. Kept databases and saved
// simulator states live in bench/.data, so the 1,000-session runs do not relink every time.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { WebSocket } from 'ws'
import { createPrisma, dropDatabase, migrate, type PrismaClient } from '@wss/db'
import { createOwnerRegistry, createRedisConnection, decodeOwner, isCluster, redisKeys } from '@wss/shared'
import { SimClient, type SimulatorSettings } from '@wss/wa-sim'
import { createMetricsScraper } from './metrics-scraper.ts'

export const root = new URL('../../', import.meta.url).pathname
const dataDir = join(root, 'bench/.data')
const outDir = join(root, 'bench/out')
// Read when a stack starts, so a benchmark may start servers of its own first (the chaos run).
const pgServer = () => process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'
const redisUrl = () => process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'

// BENCH_START_TIMEOUT_MS: how long an API node or worker may take to start (a loaded machine needs more).
const startTimeoutMs = () => Number(process.env.BENCH_START_TIMEOUT_MS ?? 30_000)

export const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** Polls until the check passes; false when the time is up. */
export async function until (check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    try { if (await check()) return true } catch { /* not yet */ }
    await sleep(everyMs)
  }
  return false
}

// ------------------------------------------------------------------ process readings (Linux /proc)

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100)
/** CPU time (user + system) a process used so far, in ms. */
export function cpuMs (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS
}
/** Resident set size of a process, in bytes. */
export function rssBytes (pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024
}

export function machine (): string {
  return `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`
}

// ------------------------------------------------------------------ statistics and the table

export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

/** Prints the benchmark's figures as one table: figure, value, target, verdict. */
export function printTable (title: string, rows: Array<[figure: string, value: string, target?: string, met?: boolean]>) {
  const w0 = Math.max(6, ...rows.map(r => r[0].length))
  const w1 = Math.max(5, ...rows.map(r => r[1].length))
  const w2 = Math.max(6, ...rows.map(r => (r[2] ?? '').length))
  const line = (a: string, b: string, c: string, d: string) => `| ${a.padEnd(w0)} | ${b.padEnd(w1)} | ${c.padEnd(w2)} | ${d.padEnd(4)} |`
  console.log(`\n${title}\n`)
  console.log(line('figure', 'value', 'target', 'met'))
  console.log(`|${'-'.repeat(w0 + 2)}|${'-'.repeat(w1 + 2)}|${'-'.repeat(w2 + 2)}|------|`)
  for (const [figure, value, target, met] of rows) console.log(line(figure, value, target ?? '', met === undefined ? '' : met ? 'yes' : 'NO'))
  console.log('')
}

export const fmtMs = (ms: number) => ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`
export const fmtBytes = (b: number) => b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(2)} MB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KB` : `${Math.round(b)} B`

// ------------------------------------------------------------------ the stack

export interface StackOptions {
  /** Names the database (`wss_bench_<name>`), the Redis prefix and the simulator state file. */
  name: string
  /** Keep the database and the simulator state between runs (the fleet benchmarks). */
  keep?: boolean
  env?: Record<string, string>
  /** Extra simulator command-line options (`--lazy-decrypt`). */
  simArgs?: string[]
}

export interface Proc { name: string, proc: ChildProcess, pid: number, exited: Promise<number | null> }

/**
 * Starts Postgres/Redis when they are down, the simulator (from its saved state when kept),
 * migrates the benchmark's database and gives the means to start API nodes and workers.
 */
export async function startStack (opts: StackOptions) {
  execFileSync('bash', [join(root, 'scripts/ensure-services.sh')], { stdio: 'inherit' })
  mkdirSync(dataDir, { recursive: true })
  const runDir = join(outDir, `${opts.name}-${new Date().toISOString().replace(/[:.]/g, '-')}`)
  mkdirSync(runDir, { recursive: true })
  const db = new URL(pgServer())
  db.pathname = `/wss_bench_${opts.name.replace(/\W/g, '_')}`
  const databaseUrl = db.toString()
  const statePath = join(dataDir, `${opts.name}.sim.json`)
  if (!opts.keep || !existsSync(statePath)) await dropDatabase(databaseUrl)
  await migrate(databaseUrl)
  const prisma: PrismaClient = createPrisma(databaseUrl, { poolSize: 4, applicationName: 'wss-bench' })
  const prefix = `wss-bench-${opts.name}`
  const redis = createRedisConnection(redisUrl(), { maxRetriesPerRequest: 1 })
  redis.on('error', () => undefined) // a benchmark that restarts Redis (chaos) sees refusals until it is back
  // On a cluster, every master's keys: the registry's, BullMQ's and the rate limiter's.
  const masters = () => isCluster(redis) ? redis.nodes('master') : [redis]
  for (const node of masters()) {
    for (const pattern of [`{${prefix}}:*`, `{${prefix}:bull}:*`, `${prefix}:*`]) {
      for (const key of await node.keys(pattern)) await redis.del(key)
    }
  }
  const registry = createOwnerRegistry(redis, prefix)
  const apiKey = randomBytes(24).toString('base64url')
  const procs = new Set<Proc>()

  const launch = (name: string, args: string[], env: Record<string, string>, nodeArgs: string[] = []): Proc => {
    const log = createWriteStream(join(runDir, `${name}.log`), { flags: 'a' }) // a restarted node appends
    const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    proc.stdout!.pipe(log)
    proc.stderr!.pipe(log)
    const p: Proc = { name, proc, pid: proc.pid!, exited: new Promise(resolve => proc.on('exit', code => resolve(code))) }
    procs.add(p)
    void p.exited.then(() => procs.delete(p))
    return p
  }

  // The simulator in its own process, as a WhatsApp server would be.
  const simArgs = [join(root, 'packages/wa-sim/src/cli.ts'), '--port', '0', ...(opts.keep ? ['--state', statePath] : []), ...(opts.simArgs ?? [])]
  // BENCH_SIM_NODE_ARGS: extra node flags for the simulator (e.g. --prof --logfile=/tmp/sim.v8.log).
  const simProc = launch('simulator', simArgs, {}, process.env.BENCH_SIM_NODE_ARGS?.split(' ').filter(Boolean) ?? [])
  const settings = await new Promise<SimulatorSettings & { control: string }>((resolve, reject) => {
    let out = ''
    simProc.proc.stdout!.on('data', chunk => {
      out += chunk
      const env = Object.fromEntries([...out.matchAll(/^(WA_[A-Z_]+)=(.*)$/gm)].map(m => [m[1], m[2]]))
      const control = /"control": "([^"]+)"/.exec(out)?.[1]
      if (env.WA_WS_URL && env.WA_TRUST_ROOT && env.WA_MEDIA_CA && control) {
        resolve({ WA_WS_URL: env.WA_WS_URL, WA_TRUST_ROOT: env.WA_TRUST_ROOT, WA_MEDIA_CA: JSON.parse(env.WA_MEDIA_CA), control: control.replace(/\/sim$/, '') })
      }
    })
    void simProc.exited.then(code => reject(new Error(`simulator exited with ${code}`)))
  })
  const sim = new SimClient(settings.control)

  const baseEnv: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl(),
    REDIS_PREFIX: prefix,
    API_KEY: apiKey,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', // BENCH_LOG_LEVEL=info: the workers' and API nodes' logs in bench/out
    NODE_ENV: 'production',
    WA_WS_URL: settings.WA_WS_URL,
    WA_TRUST_ROOT: settings.WA_TRUST_ROOT,
    WA_MEDIA_CA: settings.WA_MEDIA_CA,
    ...opts.env
  }
  const apis: Array<Proc & { url: string }> = []
  const metrics = createMetricsScraper()
  let workerCount = 0

  const stack = {
    name: opts.name, prisma, redis, prefix, apiKey, databaseUrl, sim, simPid: simProc.pid, statePath, runDir, apis,

    /** An API node; `port` and `index` restart one in place (the same address, its slot in `apis`). */
    async addApi (env: Record<string, string> = {}, port = 20_000 + Math.floor(Math.random() * 20_000), index = apis.length) {
      const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []
      // BENCH_API_NODE_ARGS: extra node flags for the API nodes (e.g. --perf-basic-prof for `perf record`).
      const extra = process.env.BENCH_API_NODE_ARGS?.split(' ').filter(Boolean) ?? []
      const p = launch(`api-${index + 1}`, [join(root, 'apps/api/src/server.ts')], { ...baseEnv, PORT: String(port), HOST: '127.0.0.1', ...env }, [...prof, ...extra])
      const node = { ...p, url: `http://127.0.0.1:${port}` }
      if (!await until(async () => (await fetch(`${node.url}/readyz`)).ok, startTimeoutMs(), 200)) throw new Error(`API node did not become ready (log: ${runDir})`)
      if (index < apis.length) apis[index] = node
      else apis.push(node)
      metrics.addTarget(`${node.url}/metrics`)
      void p.exited.then(() => metrics.removeTarget(`${node.url}/metrics`))
      return node
    },

    /** A worker process; resolves once it registered in the owner registry. */
    async addWorker (env: Record<string, string> = {}, nodeArgs: string[] = []) {
      const id = `bw${++workerCount}-${randomUUID().slice(0, 6)}`
      // BENCH_CPU_PROF=dir: every worker (and API node) writes a V8 CPU profile there when it exits.
      const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []
      const scraped = metrics.worker()
      const p = launch(`worker-${id}`, [join(root, 'apps/worker/src/worker-process.ts')], { ...baseEnv, WORKER_ID: id, ...scraped.env, ...env }, [...prof, ...nodeArgs])
      if (!await until(async () => (await registry.liveWorkers()).some(w => w.id === id), startTimeoutMs(), 100)) throw new Error(`worker did not register (log: ${runDir})`)
      metrics.addTarget(scraped.target)
      void p.exited.then(() => metrics.removeTarget(scraped.target))
      return { ...p, id }
    },

    /** An API request with the key: status and parsed body. */
    async api (method: string, path: string, body?: unknown, node = 0) {
      const res = await fetch(apis[node]!.url + path, {
        method,
        headers: { 'x-api-key': apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body)
      })
      const text = await res.text()
      let json: any
      try { json = JSON.parse(text) } catch { json = { raw: text } }
      return { status: res.status, body: json }
    },

    /** How many of these sessions the API reports connected (one paged list walk). */
    async connectedCount (): Promise<number> {
      let n = 0
      let cursor: string | null | undefined
      do {
        const res = await stack.api('GET', `/api/sessions?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
        if (res.status !== 200) throw new Error(`list sessions: ${res.status}`)
        n += (res.body.data as Array<{ connected: boolean }>).filter(s => s.connected).length
        cursor = res.body.meta?.nextCursor ?? res.body.nextCursor
      } while (cursor)
      return n
    },

    /** Sessions whose owner record names this worker. */
    async ownedBy (workerId: string): Promise<number> {
      let n = 0
      for (const node of masters()) {
        let cursor = '0'
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', redisKeys(prefix).owner('*'), 'COUNT', 1000)
          cursor = next
          if (keys.length) for (const v of await redis.mget(...keys)) if (decodeOwner(v)?.workerId === workerId) n++
        } while (cursor !== '0')
      }
      return n
    },

    /** The WebSocket event stream of API node `node`: every frame `{ event, data }` goes to `onEvent`. */
    async events (onEvent: (event: string, data: any, at: number) => void, node = 0) {
      const ws = new WebSocket(apis[node]!.url.replace('http', 'ws') + '/api/events', { headers: { 'x-api-key': apiKey } })
      ws.on('message', raw => {
        const at = performance.now()
        const frame = JSON.parse(String(raw)) as { event?: string, data?: unknown }
        if (frame.event) onEvent(frame.event, frame.data, at)
      })
      await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
      return () => ws.close()
    },

    async stop () {
      metrics.stop()
      for (const p of procs) if (p.name !== 'simulator') p.proc.kill('SIGTERM')
      await Promise.race([Promise.all([...procs].filter(p => p.name !== 'simulator').map(p => p.exited)), sleep(15_000)])
      for (const p of procs) if (p.name !== 'simulator' && p.proc.exitCode === null) p.proc.kill('SIGKILL')
      if (opts.keep) await sim.saveState(statePath).catch(err => console.error('could not save the simulator state:', err.message))
      simProc.proc.kill('SIGKILL')
      await prisma.$disconnect()
      redis.disconnect()
    }
  }
  return stack
}

export type Stack = Awaited<ReturnType<typeof startStack>>

/** The command's options (`pnpm <bench> -- --x 1` passes the `--` through: it is dropped). */
export function options<T extends Record<string, { type: 'string', default: string }>> (spec: T): { [K in keyof T]: string } {
  return parseArgs({ args: process.argv.slice(2).filter(a => a !== '--'), options: spec }).values as unknown as { [K in keyof T]: string }
}

export interface PgWrites { walBytes: number, rows: Record<string, number>, tableBytes: number }

/**
 * Postgres write counters of the benchmark's database: WAL position, rows inserted + updated +
 * deleted per table, and the size of every table with its indexes. Backends report row counts
 * at most once a second and idle ones after 10 s, so callers wait before the second reading.
 */
export async function pgWrites (prisma: PrismaClient): Promise<PgWrites> {
  const [wal] = await prisma.$queryRawUnsafe<Array<{ lsn: string }>>('SELECT pg_current_wal_lsn()::text AS lsn')
  const [hi, lo] = wal!.lsn.split('/').map(h => parseInt(h, 16))
  const tables = await prisma.$queryRawUnsafe<Array<{ relname: string, n: bigint, bytes: bigint }>>(
    'SELECT relname, (n_tup_ins + n_tup_upd + n_tup_del)::bigint AS n, pg_total_relation_size(relid)::bigint AS bytes FROM pg_stat_user_tables')
  return {
    walBytes: hi! * 2 ** 32 + lo!,
    rows: Object.fromEntries(tables.map(t => [t.relname, Number(t.n)])),
    tableBytes: tables.reduce((s, t) => s + Number(t.bytes), 0)
  }
}

/** Rows written per table (non-zero only), WAL bytes and table growth between two readings, divided by `per`. */
export function pgDelta (a: PgWrites, b: PgWrites, per: number) {
  const rows: Record<string, number> = {}
  for (const [name, n] of Object.entries(b.rows)) {
    const d = (n - (a.rows[name] ?? 0)) / per
    if (d > 0) rows[name] = d
  }
  return {
    rows,
    totalRows: Object.values(rows).reduce((s, n) => s + n, 0),
    walBytes: (b.walBytes - a.walBytes) / per,
    tableBytes: (b.tableBytes - a.tableBytes) / per
  }
}

export const rowsText = (rows: Record<string, number>) => Object.entries(rows).map(([t, n]) => `${t} ${n.toFixed(2)}`).join(', ')
