// Runs the server on sensible defaults: migrates the database, then starts the API and the worker
// pool (WORKER_PROCESSES, default one per CPU core). SANDBOX=1 also starts the WhatsApp simulator
// and points the workers at it, so every endpoint can be tried without a real number.
// Settings come from the environment and from .env when there is one; the environment wins.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { register } from 'tsx/esm/api'

const root = new URL('..', import.meta.url).pathname

// .env: created on the first run with a random API key, so the server starts with no set-up. With
// API_KEY in the environment (containers, systemd, CI) no file is needed, and none is written.
const envFile = `${root}.env`
if (!existsSync(envFile) && !process.env.API_KEY) {
  const example = readFileSync(`${root}.env.example`, 'utf8')
  writeFileSync(envFile, example.replace(/^API_KEY=.*$/m, `API_KEY=${randomBytes(24).toString('base64url')}`), { mode: 0o600 })
  console.log(`created .env with a new API_KEY (see ${envFile})`)
}
if (existsSync(envFile)) process.loadEnvFile(envFile)

// Every setting is checked before anything starts: a bad one stops here with one line naming it.
register()
const { SandboxSettingsSchema, loadOrExit, loadSettings } = await import('../packages/shared/src/settings.ts')
const { loadConfig: loadApiConfig } = await import('../apps/api/src/config.ts')
const { loadConfig: loadWorkerConfig } = await import('../apps/worker/src/config.ts')
loadOrExit(() => loadApiConfig(process.env))
const settings = loadOrExit(() => loadWorkerConfig(process.env))
const launcher = loadOrExit(() => loadSettings(SandboxSettingsSchema, process.env))
// The pool waits a margin past SHUTDOWN_TIMEOUT_MS for its workers; this waits longer still.
const stopWaitMs = settings.SHUTDOWN_TIMEOUT_MS + 5000

const children = []
const run = (name, args, env = process.env) => {
  // detached: a process group of its own, so Ctrl-C reaches each child once, forwarded by stop(),
  // rather than twice (the terminal signals the whole group), which close-with-grace takes for "exit now".
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'], detached: true })
  child.on('exit', code => {
    if (stopping) return
    console.error(`${name} exited with ${code}; stopping`)
    stop(1)
  })
  children.push(child)
  return child
}
let stopping = false
const stop = (code = 0) => {
  if (stopping) return
  stopping = true
  for (const c of children) c.kill('SIGTERM')
  setTimeout(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    process.exit(code || 1)
  }, stopWaitMs).unref()
  Promise.all(children.map(c => new Promise(resolve => c.exitCode !== null || c.signalCode !== null ? resolve() : c.on('exit', resolve)))).then(() => process.exit(code))
}
process.on('SIGINT', () => stop(0))
process.on('SIGTERM', () => stop(0))
// The children have their own sessions (detached), so a closed terminal's hang-up reaches only this process.
process.on('SIGHUP', () => stop(0))

const sandbox = launcher.SANDBOX === '1' || launcher.SANDBOX === 'true'
if (sandbox) {
  // The sandbox keeps its own database and Redis keys: simulated sessions never meet real WhatsApp.
  const db = new URL(settings.DATABASE_URL)
  db.pathname = `${db.pathname.replace(/_sandbox$/, '')}_sandbox`
  process.env.DATABASE_URL = db.toString()
  process.env.REDIS_PREFIX = `${settings.REDIS_PREFIX}-sandbox`
}

// 1. Migrations (committed SQL, applied offline).
const migrated = spawn(process.execPath, ['--import', 'tsx', 'prisma/scripts/migrate.ts'], { cwd: root, env: process.env, stdio: 'inherit' })
const migrateCode = await new Promise(resolve => migrated.on('exit', resolve))
if (migrateCode !== 0) process.exit(migrateCode ?? 1)

// 2. The simulator, in sandbox mode.
if (sandbox) {
  const envOut = `${root}.sandbox.env`
  rmSync(envOut, { force: true })
  const port = String(launcher.WA_SIM_PORT)
  run('simulator', ['packages/wa-sim/src/cli.ts', '--port', port, '--state', `${root}.sandbox-state.json`, '--write-env', envOut])
  for (let i = 0; i < 100 && !existsSync(envOut); i++) await new Promise(resolve => setTimeout(resolve, 100))
  for (const line of readFileSync(envOut, 'utf8').split('\n')) {
    const m = /^(WA_[A-Z_]+)=(.*)$/.exec(line)
    if (m) process.env[m[1]] = m[1] === 'WA_MEDIA_CA' ? JSON.parse(m[2]) : m[2]
  }
  console.log(`sandbox: simulator control API at http://127.0.0.1:${port}/sim (see packages/wa-sim/README.md)`)
}

// 3. The worker pool and the API.
run('workers', ['apps/worker/src/main.ts'])
run('api', ['apps/api/src/server.ts'])
