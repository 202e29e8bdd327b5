import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { createWriteStream, mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPrisma, dropDatabase, migrate, type PrismaClient } from '@wss/db'
import { createOwnerRegistry, createRedisConnection, decodeOwner, isCluster, redisKeys } from '@wss/shared'
import { startSimulator, type RunningSimulator } from '@wss/wa-sim'

interface Teardown { teardown (fn: () => unknown): void }

const root = new URL('../../', import.meta.url).pathname
const pgServer = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'
export const defaultRedisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A free TCP port on loopback. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

/** Polls until the check passes or the time is up. */
export async function eventually (check: () => boolean | Promise<boolean>, timeoutMs = 15_000, everyMs = 100) {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    try { if (await check()) return true } catch { /* not yet */ }
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  return false
}

export interface ApiNode { url: string, proc: ChildProcess }
export interface WorkerNode { id: string, proc: ChildProcess, exited: Promise<number | null> }

/**
 * The whole product as separate processes, as it runs in production: API nodes and worker
 * processes on a fresh database, a unique Redis prefix, and the simulator in this process.
 * Every process's output goes to a log file, so a test can scan all of it.
 */
/** Directories written by `scripts/deploy.sh`: the stack then runs the compiled production bundles. */
export interface Bundles { api: string, worker: string, migrator: string }

export async function startStack (t: Teardown, opts: { apis?: number, workers?: number, redisUrl?: string, env?: Record<string, string>, sim?: RunningSimulator, bundles?: Bundles, appDatabaseUrl?: (direct: string) => string } = {}) {
  const sim = opts.sim ?? await startSimulator()
  if (!opts.sim) t.teardown(() => sim.close())
  const db = new URL(pgServer)
  db.pathname = `/wss_e2e_${randomUUID().replaceAll('-', '').slice(0, 16)}`
  const databaseUrl = db.toString()
  t.teardown(() => dropDatabase(databaseUrl))
  if (opts.bundles) await runMigrator(opts.bundles.migrator, databaseUrl)
  else await migrate(databaseUrl)
  const prisma: PrismaClient = createPrisma(databaseUrl, { poolSize: 4, applicationName: 'wss-e2e-test' })
  t.teardown(() => prisma.$disconnect())
  const prefix = `wss-e2e-${randomUUID().slice(0, 8)}`
  const apiKey = randomBytes(24).toString('base64url')
  const logDir = mkdtempSync(join(tmpdir(), 'wss-e2e-logs-'))
  const redisUrl = opts.redisUrl ?? defaultRedisUrl
  const baseEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    // The apps may reach the database another way (through PgBouncer); migrations and the test's
    // own client go direct.
    DATABASE_URL: opts.appDatabaseUrl?.(databaseUrl) ?? databaseUrl,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    API_KEY: apiKey,
    LOG_LEVEL: 'debug',
    RATE_LIMIT_MAX: '100000',
    SEND_MIN_INTERVAL_MS: '0',
    SEND_JITTER_MS: '0',
    SWEEP_INTERVAL_MS: '500',
    LEASE_TTL_MS: '5000',
    WA_WS_URL: sim.settings.WA_WS_URL,
    WA_TRUST_ROOT: sim.settings.WA_TRUST_ROOT,
    WA_MEDIA_CA: sim.settings.WA_MEDIA_CA,
    ...opts.env
  }
  const procs = new Set<ChildProcess>()
  t.teardown(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL')
    const cleanup = createRedisConnection(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
    cleanup.on('error', () => undefined)
    try {
      await cleanup.connect()
      // The registry's keys (`{prefix}:…`), BullMQ's (`{prefix:bull}:…`), the rate limiter's (`prefix:…`); on a cluster, each master's.
      for (const node of isCluster(cleanup) ? cleanup.nodes('master') : [cleanup]) {
        const keys = await node.keys(`*${prefix}*`)
        for (const key of keys) await cleanup.del(key)
      }
    } catch { /* Redis may be down in a failure test */ }
    cleanup.disconnect()
  })
  let n = 0
  // From source through tsx, or a bundle's compiled entry run by node alone, as in production.
  const command = (role: 'api' | 'worker', source: string, compiled: string) => opts.bundles
    ? { args: ['--enable-source-maps', join(opts.bundles[role], compiled)], cwd: opts.bundles[role], env: { NODE_ENV: 'production' } }
    : { args: ['--import', 'tsx', join(root, source)], cwd: root, env: {} }
  const launch = (name: string, cmd: ReturnType<typeof command>, env: Record<string, string>) => {
    const log = createWriteStream(join(logDir, `${name}-${n++}.log`))
    const proc = spawn(process.execPath, cmd.args, { cwd: cmd.cwd, env: { ...baseEnv, ...cmd.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    proc.stdout!.pipe(log)
    proc.stderr!.pipe(log)
    procs.add(proc)
    return proc
  }

  const apis: ApiNode[] = []
  const workers: WorkerNode[] = []
  const redis = createRedisConnection(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false })
  redis.on('error', () => undefined)
  await redis.connect()
  t.teardown(() => redis.disconnect())
  const registry = createOwnerRegistry(redis, prefix)
  const registered = async (ids: string[]) => {
    const live = new Set((await registry.liveWorkers()).map(w => w.id))
    return ids.every(id => live.has(id))
  }

  const stack = {
    sim, prisma, prefix, apiKey, databaseUrl, redisUrl, apis, workers, logDir,

    /** Starts one more API node; `env` overrides the stack's settings for it alone. */
    async addApi (env: Record<string, string> = {}): Promise<ApiNode> {
      const port = await freePort()
      const proc = launch('api', command('api', 'apps/api/src/server.ts', 'dist/server.js'), { ...env, PORT: String(port), HOST: '127.0.0.1' })
      const node = { url: `http://127.0.0.1:${port}`, proc }
      const up = await eventually(async () => (await fetch(`${node.url}/readyz`)).ok, 60_000, 200)
      if (!up) throw new Error('API node did not become ready')
      apis.push(node)
      return node
    },

    async addWorker (): Promise<WorkerNode> {
      const id = `w${workers.length + 1}-${randomUUID().slice(0, 6)}`
      const proc = launch('worker', command('worker', 'apps/worker/src/worker-process.ts', 'dist/worker-process.js'), { WORKER_ID: id, WORKER_HEALTH_FILE: join(logDir, `${id}.health`) })
      const exited = new Promise<number | null>(resolve => proc.on('exit', code => resolve(code)))
      const up = await eventually(async () => await registered([id]), 30_000, 200)
      if (!up) throw new Error('worker did not register')
      const node = { id, proc, exited }
      workers.push(node)
      return node
    },

    /** A worker pool (`main.ts`) of `processes` workers with ids `{id}-0`, `{id}-1`...; resolves once each registered. */
    async addWorkerPool (processes: number, env: Record<string, string> = {}) {
      const id = `pool${workers.length + 1}-${randomUUID().slice(0, 6)}`
      const proc = launch('pool', command('worker', 'apps/worker/src/main.ts', 'dist/main.js'), { WORKER_ID: id, WORKER_PROCESSES: String(processes), WORKER_HEALTH_FILE: join(logDir, `${id}.health`), ...env })
      const ids = Array.from({ length: processes }, (_, slot) => `${id}-${slot}`)
      const up = await eventually(async () => await registered(ids), 60_000, 200)
      if (!up) throw new Error('the worker pool did not register its processes')
      return { proc, ids }
    },

    /** Every line every process wrote so far. */
    logs (): string {
      return readdirSync(logDir).filter(f => f.endsWith('.log')).map(f => readFileSync(join(logDir, f), 'utf8')).join('\n')
    },

    /** An API request with the key; answers status and the parsed envelope. */
    async api (method: string, path: string, body?: unknown, opts2: { node?: number, headers?: Record<string, string> } = {}) {
      const node = apis[opts2.node ?? 0]!
      const res = await fetch(node.url + path, {
        method,
        headers: { 'x-api-key': apiKey, ...(body !== undefined && !(body instanceof FormData) ? { 'content-type': 'application/json' } : {}), ...opts2.headers },
        body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body)
      })
      const text = await res.text()
      let json: any
      try { json = JSON.parse(text) } catch { json = { raw: text } }
      return { status: res.status, body: json, headers: res.headers }
    },

    /** Which worker owns a session right now. */
    async ownerOf (sessionId: string) {
      return decodeOwner(await redis.get(redisKeys(prefix).owner(sessionId)))?.workerId
    }
  }

  for (let i = 0; i < (opts.apis ?? 1); i++) await stack.addApi()
  for (let i = 0; i < (opts.workers ?? 1); i++) await stack.addWorker()
  return stack
}

/** Runs a deployed migrator (`node dist/migrate.js`) against a database; throws with its output on failure. */
async function runMigrator (dir: string, databaseUrl: string) {
  const proc = spawn(process.execPath, [join(dir, 'dist/migrate.js')], { cwd: dir, env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  proc.stdout!.on('data', (d: Buffer) => { output += d })
  proc.stderr!.on('data', (d: Buffer) => { output += d })
  const code = await new Promise<number | null>(resolve => proc.on('exit', resolve))
  if (code !== 0) throw new Error(`the migrator exited with ${code}: ${output}`)
}

export type Stack = Awaited<ReturnType<typeof startStack>>
