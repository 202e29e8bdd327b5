// The product through PgBouncer in transaction mode (Debian's pgbouncer, started here with a pool
// smaller than the processes' own pools): a session links (auth state written with fencing), a
// status goes out, views are recorded, a worker's sessions move to another worker — while Postgres
// sees no more server connections than PgBouncer's pool, and no client fails on session state or
// prepared statements.
import { execFileSync, spawn } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { eventually, freePort, startStack } from '../src/stack.ts'

const pgbouncer = '/usr/sbin/pgbouncer'
const skip = existsSync(pgbouncer) ? false : 'pgbouncer is not installed (scripts/ensure-packages.sh pgbouncer installs it)'
const pgServer = new URL(process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres')
const poolSize = 4

/** PgBouncer in transaction mode in front of the test server, for any database name. */
async function startPgBouncer (t: { teardown: (fn: () => unknown) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'wss-pgbouncer-'))
  const port = await freePort()
  writeFileSync(join(dir, 'pgbouncer.ini'), [
    '[databases]',
    `* = host=${pgServer.hostname} port=${pgServer.port || 5432} user=${pgServer.username || 'postgres'}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    `unix_socket_dir = ${dir}`,
    'auth_type = any',
    'pool_mode = transaction',
    `default_pool_size = ${poolSize}`,
    'min_pool_size = 0',
    'reserve_pool_size = 0',
    'max_client_conn = 1000',
    'server_reset_query =',
    // What DB_IDLE_IN_TRANSACTION_MS does without PgBouncer: a frozen client's transaction ends.
    'idle_transaction_timeout = 60',
    `pidfile = ${join(dir, 'pgbouncer.pid')}`,
    ''
  ].join('\n'))
  // PgBouncer refuses to run as root (CI and containers often are): then it runs as `nobody`.
  const user: { uid?: number, gid?: number } = process.getuid?.() === 0 ? { uid: Number(execFileSync('id', ['-u', 'nobody'])), gid: Number(execFileSync('id', ['-g', 'nobody'])) } : {}
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid!)
  const proc = spawn(pgbouncer, [join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'ignore', 'pipe'], ...user })
  let stderr = ''
  proc.stderr!.on('data', (d: Buffer) => { stderr += d })
  t.teardown(() => { proc.kill('SIGTERM') })
  const { connect } = await import('node:net')
  const up = await eventually(() => new Promise<boolean>(resolve => {
    const s = connect(port, '127.0.0.1', () => { s.end(); resolve(true) })
    s.on('error', () => resolve(false))
  }), 10_000, 100)
  if (!up) throw new Error(`pgbouncer did not start: ${stderr}`)
  return { port, stderr: () => stderr }
}

t.test('the e2e flow through PgBouncer in transaction mode', { skip }, async t => {
  const bouncer = await startPgBouncer(t)
  const throughBouncer = (direct: string) => {
    const url = new URL(direct)
    url.host = `127.0.0.1:${bouncer.port}`
    return url.toString()
  }
  // Two workers and an API node, each with a pool of 10: 30 client connections for 4 server ones.
  const stack = await startStack(t, { apis: 1, workers: 2, appDatabaseUrl: throughBouncer, env: { DB_POOL_SIZE: '10', DB_IDLE_IN_TRANSACTION_MS: '0' } })
  const database = new URL(stack.databaseUrl).pathname.slice(1)
  const serverConnections = async () => {
    const rows = await stack.prisma.$queryRaw<Array<{ n: bigint }>>`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = ${database} AND application_name <> 'wss-e2e-test'`
    return Number(rows[0]!.n)
  }
  let mostServerConnections = 0
  const sampler = setInterval(() => { serverConnections().then(n => { mostServerConnections = Math.max(mostServerConnections, n) }, () => {}) }, 100)
  t.teardown(() => clearInterval(sampler))

  const [me, alice, bob] = ['15554440000', '15554440001', '15554440002']
  for (const p of [me, alice, bob]) await stack.sim.client.createAccount(p)
  const sessionId = 'pooled'
  t.equal((await stack.api('POST', '/api/sessions', { sessionId, sessionName: 'Pooled', authMethod: 'pairing', phoneNumber: me })).status, 201)
  let code: string | undefined
  await eventually(async () => { code = (await stack.api('GET', `/api/sessions/${sessionId}/pairing-code`)).body?.data?.pairingCode; return !!code }, 30_000)
  t.match(await stack.sim.client.enterPairingCode(me, code!), { linked: true })
  t.ok(await eventually(async () => (await stack.api('GET', `/api/sessions/${sessionId}/connection-status`)).body?.data?.connected === true, 30_000), 'linked and connected')

  const sent = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content: 'pooled hello', targetNumbers: [alice, bob] })
  t.equal(sent.status, 201, JSON.stringify(sent.body))
  let onPhone: any
  await eventually(async () => { onPhone = (await stack.sim.client.statuses(me)).find(s => s.text === 'pooled hello'); return !!onPhone }, 15_000)
  t.same(onPhone.recipients.filter((r: any) => r.decrypted).map((r: any) => r.phone).sort(), [alice, bob, me].sort(), 'every recipient decrypted it')
  await stack.sim.client.viewStatus(me, onPhone.id, { viewers: [alice, bob] })
  const viewersPath = `/api/sessions/${sessionId}/statuses/${sent.body.data.id}/viewers`
  t.ok(await eventually(async () => (await stack.api('GET', viewersPath)).body?.data?.length === 2, 15_000), 'both views recorded')

  // Takeover: the owner dies, the other worker claims the session (a fenced generation bump) and
  // sends with the auth state the first one wrote.
  const owner = await stack.ownerOf(sessionId)
  const dying = stack.workers.find(w => w.id === owner)!
  dying.proc.kill('SIGKILL')
  t.ok(await eventually(async () => { const o = await stack.ownerOf(sessionId); return o !== undefined && o !== owner }, 30_000), 'the other worker took the session over')
  t.ok(await eventually(async () => (await stack.api('GET', `/api/sessions/${sessionId}/connection-status`)).body?.data?.connected === true, 30_000), 'connected again')
  const again = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content: 'after takeover', targetNumbers: [alice] })
  t.equal(again.status, 201, JSON.stringify(again.body))

  t.ok(mostServerConnections > 0 && mostServerConnections <= poolSize, `Postgres saw at most PgBouncer's pool (${mostServerConnections} of ${poolSize} server connections)`)
  t.notMatch(stack.logs(), /prepared statement|unnamed portal|DISCARD ALL|cannot (SET|LISTEN)/i, 'no session-state or prepared-statement errors in any log')
  t.notMatch(bouncer.stderr(), /\bERROR\b/, 'PgBouncer reported no error')
})
