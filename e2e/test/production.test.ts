// The production bundles, as a container runs them: `scripts/deploy.sh` builds and writes one
// directory per role with `pnpm deploy --prod`; each starts with `node dist/…` (no tsx, no
// TypeScript, no devDependencies) against the test Postgres, Redis and the simulator, and the
// product works: the migrator migrates, the API answers /readyz, the worker pool links a session
// and a status reaches the contacts' phones.
import { execFile, spawn } from 'node:child_process'
import { createWriteStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { eventually, startStack } from '../src/stack.ts'

const root = new URL('../../', import.meta.url).pathname
const out = mkdtempSync(join(tmpdir(), 'wss-deploy-'))
t.teardown(() => rmSync(out, { recursive: true, force: true }))

t.test('scripts/deploy.sh writes a bundle per role with only its runtime dependencies', async t => {
  await promisify(execFile)('bash', [join(root, 'scripts/deploy.sh'), out], { cwd: root, maxBuffer: 1 << 24 })
  for (const [role, entries] of [['api', ['server.js']], ['worker', ['main.js', 'worker-process.js']], ['migrator', ['migrate.js']]] as const) {
    const dir = join(out, role)
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
    for (const entry of entries) t.ok(existsSync(join(dir, 'dist', entry)), `${role}: dist/${entry}`)
    t.notOk(existsSync(join(dir, 'src')), `${role}: no TypeScript sources`)
    const installed = readdirSync(join(dir, 'node_modules')).flatMap(n => n.startsWith('@') ? readdirSync(join(dir, 'node_modules', n)).map(m => `${n}/${m}`) : [n])
    t.same(installed.filter(n => !n.startsWith('.')).sort(), Object.keys(pkg.dependencies).sort(), `${role}: exactly its dependencies, no devDependencies`)
    for (const entry of entries) t.notMatch(readFileSync(join(dir, 'dist', entry), 'utf8'), /wa-sim|from "tsx|from 'tsx/, `${role}: the simulator and tsx stay out of dist/${entry}`)
  }
  t.ok(existsSync(join(out, 'migrator/migrations/migration_lock.toml')), 'the migrator carries the committed migrations')
})

t.test('the bundles migrate, serve and send a status with node alone', async t => {
  const bundles = { api: join(out, 'api'), worker: join(out, 'worker'), migrator: join(out, 'migrator') }
  const stack = await startStack(t, { apis: 1, workers: 0, bundles })
  const ready = await fetch(`${stack.apis[0]!.url}/readyz`)
  t.equal(ready.status, 200, 'the compiled API node is ready (its database was made by the compiled migrator)')

  // The pool, as the worker image's command runs it: it forks dist/worker-process.js.
  const log = createWriteStream(join(stack.logDir, 'pool.log'))
  const pool = spawn(process.execPath, [join(bundles.worker, 'dist/main.js')], {
    cwd: bundles.worker,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      WORKER_PROCESSES: '1',
      DATABASE_URL: stack.databaseUrl,
      REDIS_URL: stack.redisUrl,
      REDIS_PREFIX: stack.prefix,
      LOG_LEVEL: 'info',
      SEND_MIN_INTERVAL_MS: '0',
      SEND_JITTER_MS: '0',
      ...stack.sim.settings
    }
  })
  pool.stdout!.pipe(log)
  pool.stderr!.pipe(log)
  const poolExited = new Promise(resolve => pool.on('exit', resolve))
  t.teardown(async () => { pool.kill('SIGTERM'); await poolExited })

  t.ok(await eventually(async () => (await stack.api('GET', '/api/health')).body?.data?.checks?.workers?.alive === 1, 30_000), 'the pool\'s worker process is up')
  const [me, alice] = ['15557770000', '15557770001']
  for (const p of [me, alice]) await stack.sim.client.createAccount(p)
  const created = await stack.api('POST', '/api/sessions', { sessionId: 'prod-bundle', sessionName: 'Prod', authMethod: 'pairing', phoneNumber: me })
  t.equal(created.status, 201, JSON.stringify(created.body))
  let code: string | undefined
  await eventually(async () => {
    code = (await stack.api('GET', '/api/sessions/prod-bundle/pairing-code')).body?.data?.pairingCode
    return !!code
  }, 30_000)
  t.match(code, /^[0-9A-Z]{8}$/, 'the compiled worker asked for a pairing code')
  t.match(await stack.sim.client.enterPairingCode(me, code!), { linked: true })
  t.ok(await eventually(async () => (await stack.api('GET', '/api/sessions/prod-bundle/connection-status')).body?.data?.connected === true, 30_000), 'connected')

  const sent = await stack.api('POST', '/api/sessions/prod-bundle/send-status', { type: 'text', content: 'from the bundle', targetNumbers: [alice] })
  t.equal(sent.status, 201, JSON.stringify(sent.body))
  let onPhone: any
  await eventually(async () => { onPhone = (await stack.sim.client.statuses(me)).find(s => s.text === 'from the bundle'); return !!onPhone }, 15_000)
  t.same(onPhone?.recipients.filter((r: any) => r.decrypted).map((r: any) => r.phone).sort(), [alice, me].sort(), 'alice and the own number decrypted it')
})
