// A standalone worker process (one per container, as docker-compose.yml runs it) serves its own
// /metrics on METRICS_PORT under METRICS_TOKEN; without the token it opens no port, and a port it
// cannot open leaves it running its sessions without metrics.
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { createOwnerRegistry } from '@wss/shared'
import { eventually, migratedPrisma, redisClient, redisUrl, uniquePrefix } from './helpers.ts'

const workerProcess = fileURLToPath(new URL('../src/worker-process.ts', import.meta.url))
type Tap = Parameters<typeof migratedPrisma>[0] & { ok: (value: unknown, message: string) => void }
const TOKEN = `token-${randomUUID()}`

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

async function startWorker (t: Tap, env: Record<string, string>) {
  const { databaseUrl } = await migratedPrisma(t)
  const prefix = uniquePrefix()
  const redis = await redisClient(t)
  t.teardown(async () => { const keys = await redis.keys(`*${prefix}*`); if (keys.length > 0) await redis.del(...keys) })
  const workerId = `metrics-${randomUUID().slice(0, 6)}`
  const proc = spawn(process.execPath, ['--import', 'tsx', workerProcess], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, REDIS_PREFIX: prefix, WORKER_ID: workerId, LOG_LEVEL: 'info', WORKER_HEALTH_FILE: `/tmp/wss-test-${workerId}`, ...env }
  })
  let output = ''
  proc.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  proc.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL') })
  const registry = createOwnerRegistry(redis, prefix)
  t.ok(await eventually(async () => (await registry.liveWorkers()).some(w => w.id === workerId), 60_000, 200), 'the worker registered')
  return { workerId, proc, output: () => output }
}

const get = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { headers })
  return { status: res.status, text: await res.text() }
}

t.test('a standalone worker serves its own metrics behind the token', async t => {
  const port = await freePort()
  const { workerId } = await startWorker(t, { METRICS_TOKEN: TOKEN, METRICS_PORT: String(port) })
  const url = `http://127.0.0.1:${port}/metrics`
  const refused = await get(url)
  t.equal(refused.status, 401)
  t.match(JSON.parse(refused.text), { success: false, code: 'UNAUTHORIZED' })
  t.equal((await get(url, { authorization: 'Bearer not-the-token-at-all' })).status, 401)
  t.equal((await get(`http://127.0.0.1:${port}/other`, { authorization: `Bearer ${TOKEN}` })).status, 404)
  let text = ''
  t.ok(await eventually(async () => {
    text = (await get(url, { authorization: `Bearer ${TOKEN}` })).text
    return /^wss_lease_renewals_total\{result="ok"\} [1-9]/m.test(text)
  }, 30_000, 200), 'lease renewals counted')
  t.match(text, new RegExp(`^wss_command_queue_jobs\\{worker="${workerId}"\\} 0$`, 'm'), 'its own queue, by worker id')
  t.match(text, /^wss_sessions\{state="connected"\} 0$/m)
  t.match(text, /^nodejs_eventloop_lag_seconds /m)
})

t.test('without METRICS_TOKEN no port is opened; a port in use leaves the worker running', async t => {
  const port = await freePort()
  await startWorker(t, { METRICS_PORT: String(port) })
  await t.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'nothing listens')

  const taken = createServer()
  await new Promise<void>(resolve => taken.listen(0, resolve))
  t.teardown(() => { taken.close() })
  const busy = (taken.address() as { port: number }).port
  const worker = await startWorker(t, { METRICS_TOKEN: TOKEN, METRICS_PORT: String(busy) })
  t.ok(await eventually(() => worker.output().includes('metrics port could not be opened'), 10_000), 'the failure is logged')
  t.equal(worker.proc.exitCode, null, 'the worker goes on')
  t.notMatch(worker.output(), TOKEN, 'the token is never logged')
})
