// The worker pool (src/main.ts) as an operator runs it: real processes on a fresh database and
// Redis prefix. A dead worker is started again; Ctrl-C stops the pool and its workers gracefully.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { createOwnerRegistry, redisKeys } from '@wss/shared'
import { migratedPrisma, redisClient, redisUrl, uniquePrefix } from './helpers.ts'

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))

async function eventually<T> (read: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const value = await read()
    if (value !== undefined) return value
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  throw new Error(`timed out waiting for ${what}`)
}

const alive = (pid: number) => { try { process.kill(pid, 0); return true } catch { return false } }

t.test('the pool restarts a dead worker, and Ctrl-C stops every worker gracefully', async t => {
  const { databaseUrl } = await migratedPrisma(t)
  const prefix = uniquePrefix()
  const redis = await redisClient(t)
  t.teardown(async () => { const keys = await redis.keys(`*${prefix}*`); if (keys.length > 0) await redis.del(...keys) })
  const dir = mkdtempSync(join(tmpdir(), 'wss-pool-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const healthFile = join(dir, 'healthy')

  // Its own process group, as a shell gives a foreground job: Ctrl-C signals the whole group.
  const pool = spawn(process.execPath, ['--import', 'tsx', main], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: prefix,
      WORKER_PROCESSES: '1',
      WORKER_HEALTH_FILE: healthFile,
      LOG_LEVEL: 'info'
    }
  })
  let output = ''
  pool.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  pool.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>(resolve => pool.on('exit', code => resolve(code)))
  t.teardown(() => { if (pool.exitCode === null && pool.signalCode === null) process.kill(-pool.pid!, 'SIGKILL') })

  /** The live workers: id -> pid, from the registry. */
  const registry = createOwnerRegistry(redis, prefix)
  const workers = async () => new Map((await registry.liveWorkers()).map(w => [w.id, Number(w.info.pid)]))

  const [firstId, firstPid] = await eventually(async () => [...await workers()][0], 'the first worker to register')
  await eventually(() => existsSync(healthFile) || undefined, 'the health file, touched while the lease holds')

  process.kill(firstPid, 'SIGKILL')
  const [secondId, secondPid] = await eventually(async () => [...await workers()].find(([id]) => id !== firstId), 'a new worker in the dead one\'s place')
  t.not(secondPid, firstPid)
  t.match(output, /worker exited; starting it again/)

  process.kill(-pool.pid!, 'SIGINT')
  t.equal(await exited, 0, 'the pool exits cleanly')
  t.notOk(alive(secondPid), 'its worker is gone too')
  t.equal(await redis.zscore(redisKeys(prefix).workers, secondId), null, 'the worker released its lease on the way out (a kill would leave it to lapse)')
  t.notMatch(output, /second SIGINT|killed by timeout/, 'one stop each, within the grace')
})
