// The worker's settings (src/config.ts): shared defaults, empty values, and a bad value stopping
// the pool and a worker process before anything starts, named but never echoed.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ConfigError } from '@wss/shared/settings'
import { loadConfig } from '../src/config.ts'

const src = (file: string) => fileURLToPath(new URL(`../src/${file}`, import.meta.url))

interface Outcome { code: number | null, stderr: string, stdout: string }

/** Runs a worker entry point with `env` as its whole environment (plus PATH). */
function run (file: string, env: Record<string, string>): Promise<Outcome> {
  return new Promise(resolve => {
    const child = execFile(process.execPath, ['--import', 'tsx', src(file)], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000, killSignal: 'SIGKILL' },
      (_err, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }))
  })
}

t.test('defaults, and empty values mean unset', async t => {
  const config = loadConfig({ WA_WS_URL: '', WA_TRUST_ROOT: '', WORKER_PROCESSES: '', DB_POOL_SIZE: '' })
  t.match(config, {
    DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/wss',
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_PREFIX: 'wss',
    LOG_LEVEL: 'info',
    DB_POOL_SIZE: 10,
    SHUTDOWN_TIMEOUT_MS: 15000,
    START_WAIT_MS: 10000,
    WORKER_HEALTH_FILE: '/tmp/wss-worker-healthy'
  })
  t.notOk('WA_WS_URL' in config, 'an exported but empty WA_WS_URL means real WhatsApp')
  t.notOk('WORKER_PROCESSES' in config, 'unset: the pool starts one process per core')
  t.match(config.WORKER_ID, /^[A-Za-z0-9_.-]+$/, 'an id is generated')
})

t.test('every setting is read through the schema', async t => {
  const config = loadConfig({ WORKER_PROCESSES: '3', WORKER_HEALTH_FILE: '/run/wss/health', SHUTDOWN_TIMEOUT_MS: '2500', DB_POOL_SIZE: '40' })
  t.equal(config.WORKER_PROCESSES, 3)
  t.equal(config.WORKER_HEALTH_FILE, '/run/wss/health')
  t.equal(config.SHUTDOWN_TIMEOUT_MS, 2500)
  t.equal(config.DB_POOL_SIZE, 40)
  for (const [variable, value] of [['WORKER_PROCESSES', 'abc'], ['WORKER_PROCESSES', '0'], ['SHUTDOWN_TIMEOUT_MS', 'abc'], ['DB_POOL_SIZE', '0']] as const) {
    const err = t.throws(() => loadConfig({ [variable]: value }), ConfigError) as unknown as ConfigError
    t.equal(err.variable, variable)
  }
})

t.test('the watchdog is bounded by the lease: a frozen worker dies before another can take its sessions', async t => {
  t.equal(loadConfig({}).WATCHDOG_MS, 5000, 'default lease 8 s: renewed every 2 s, 1 s to kill and close the sockets')
  t.equal(loadConfig({ LEASE_TTL_MS: '20000' }).WATCHDOG_MS, 14000, 'follows LEASE_TTL_MS')
  t.equal(loadConfig({ WATCHDOG_MS: '3000' }).WATCHDOG_MS, 3000, 'a shorter one is kept')
  t.equal(loadConfig({ WATCHDOG_MS: '0', LEASE_TTL_MS: '2000' }).WATCHDOG_MS, 0, '0 turns it off, whatever the lease')
  for (const [env, variable] of [
    [{ WATCHDOG_MS: '30000' }, 'WATCHDOG_MS'],
    [{ WATCHDOG_MS: '6000' }, 'WATCHDOG_MS'],
    [{ WATCHDOG_MS: '500' }, 'WATCHDOG_MS'],
    [{ LEASE_TTL_MS: '2000' }, 'LEASE_TTL_MS']
  ] as const) {
    const err = t.throws(() => loadConfig(env), ConfigError) as unknown as ConfigError
    t.equal(err.variable, variable, JSON.stringify(env))
  }
})

t.test('WATCHDOG_MS longer than the lease allows: a worker process exits naming the variable', async t => {
  const out = await run('worker-process.ts', { WATCHDOG_MS: '30000' })
  t.equal(out.code, 1)
  t.match(out.stderr.trim(), /^Invalid configuration: WATCHDOG_MS must be 0 \(off\) or between 1000 and 5000/)
})

t.test('WORKER_PROCESSES=abc: the pool exits non-zero naming the variable, before starting any worker', async t => {
  const out = await run('main.ts', { WORKER_PROCESSES: 'abc' })
  t.equal(out.code, 1)
  t.equal(out.stderr.trim(), 'Invalid configuration: WORKER_PROCESSES must be integer')
  t.equal(out.stdout, '', 'no worker said anything')
})

t.test('a configured WORKER_ID too long once the pool appends the slot stops the pool, not each worker in turn', async t => {
  const out = await run('main.ts', { WORKER_ID: 'w'.repeat(64), WORKER_PROCESSES: '2' })
  t.equal(out.code, 1)
  t.match(out.stderr, /^Invalid configuration: WORKER_ID /)
})

t.test('a bad value stops a worker process, named and not echoed', async t => {
  const out = await run('worker-process.ts', { SHUTDOWN_TIMEOUT_MS: 'soon', REDIS_URL: 'redis://127.0.0.1:1' })
  t.equal(out.code, 1)
  t.equal(out.stderr.trim(), 'Invalid configuration: SHUTDOWN_TIMEOUT_MS must be integer')
  const secret = await run('worker-process.ts', { DATABASE_URL: 'mysql://admin:hunter2@db.internal/wss' })
  t.equal(secret.code, 1)
  t.match(secret.stderr, /^Invalid configuration: DATABASE_URL /)
  t.notMatch(secret.stderr, /hunter2|db\.internal/)
})
