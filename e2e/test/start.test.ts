// `scripts/start.mjs`, the one-command start, as containers, systemd and CI run it: settings in the
// environment and no .env file. It must not need one (nor write one), and must refuse a bad setting
// before starting anything.
import { execFile, spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import t from 'tap'
import { Redis } from 'ioredis'
import { createPrisma, dropDatabase } from '@wss/db'
import { defaultRedisUrl, eventually, freePort } from '../src/stack.ts'

const root = new URL('../../', import.meta.url).pathname
const script = `${root}scripts/start.mjs`
const envFile = `${root}.env`
const pgServer = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

/** A database URL no other run uses, and its name. */
function uniqueDatabase () {
  const url = new URL(pgServer)
  const name = `wss_e2e_start_${randomUUID().replaceAll('-', '').slice(0, 16)}`
  url.pathname = `/${name}`
  return { url: url.toString(), name }
}

async function databaseExists (name: string): Promise<boolean> {
  const admin = createPrisma(pgServer, { poolSize: 1 })
  try {
    const rows = await admin.$queryRaw<unknown[]>`SELECT 1 FROM pg_database WHERE datname = ${name}`
    return rows.length === 1
  } finally {
    await admin.$disconnect()
  }
}

// A developer's own .env would be read (that is the point of it), so the claim cannot be checked.
const skip = existsSync(envFile) ? `${envFile} exists: this test needs a tree without one` : false

t.test('environment variables alone, no .env: the API serves /readyz and the workers run', { skip }, async t => {
  const db = uniqueDatabase()
  t.teardown(() => dropDatabase(db.url))
  const prefix = `wss-e2e-start-${randomUUID().slice(0, 8)}`
  const redis = new Redis(defaultRedisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await redis.connect()
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}:*`)
    if (keys.length > 0) await redis.del(...keys)
    redis.disconnect()
  })
  const port = await freePort()
  const apiKey = randomBytes(24).toString('base64url')
  const url = `http://127.0.0.1:${port}`

  const start = spawn(process.execPath, [script], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      API_KEY: apiKey,
      DATABASE_URL: db.url,
      REDIS_URL: defaultRedisUrl,
      REDIS_PREFIX: prefix,
      PORT: String(port),
      HOST: '127.0.0.1',
      WORKER_PROCESSES: '1',
      LOG_LEVEL: 'warn'
    }
  })
  let output = ''
  start.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  start.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>(resolve => start.on('exit', code => resolve(code)))
  // Its children have process groups of their own: should the graceful stop below fail, end them one by one.
  t.teardown(async () => {
    if (start.exitCode !== null || start.signalCode !== null) return
    const pids = await new Promise<string>(resolve => execFile('ps', ['-o', 'pid=', '--ppid', String(start.pid)], (_err, out) => resolve(out)))
    start.kill('SIGKILL')
    for (const pid of pids.split(/\s+/).filter(Boolean)) { try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone */ } }
  })

  const ready = await eventually(async () => (await fetch(`${url}/readyz`)).status === 200, 120_000, 500)
  t.ok(ready, '/readyz answered 200', { output })
  const sessions = await fetch(`${url}/api/sessions`, { headers: { 'x-api-key': apiKey } })
  t.equal(sessions.status, 200, 'the API key from the environment is accepted')
  const workerUp = await eventually(async () => {
    const health = await (await fetch(`${url}/api/health`, { headers: { 'x-api-key': apiKey } })).json() as { data: { checks: { workers: { alive: number } } } }
    return health.data.checks.workers.alive === 1
  }, 120_000, 500)
  t.ok(workerUp, 'the worker pool started its one worker')
  t.notOk(existsSync(envFile), 'no .env was written')

  start.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM stops everything cleanly')
  t.notMatch(output, /exited with|second SIG|killed by timeout/, 'no part stopped early or abruptly')
})

t.test('a bad setting stops the start at once, naming the variable, before anything is migrated or started', async t => {
  const db = uniqueDatabase()
  t.teardown(() => dropDatabase(db.url))
  const out = await new Promise<{ code: number | null, stdout: string, stderr: string }>(resolve => {
    const child = execFile(process.execPath, [script], {
      cwd: root,
      timeout: 60_000,
      killSignal: 'SIGKILL',
      env: { PATH: process.env.PATH ?? '', API_KEY: 'k-0123456789abcdef', DATABASE_URL: db.url, PORT: 'abc' }
    }, (_err, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }))
  })
  t.equal(out.code, 1)
  t.equal(out.stderr, 'Invalid configuration: PORT must be integer\n', 'one line, naming the variable, not its value')
  t.equal(out.stdout, '')
  t.notOk(await databaseExists(db.name), 'the migrator never ran')
})
