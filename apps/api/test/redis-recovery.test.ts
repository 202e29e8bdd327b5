import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { statSync } from 'node:fs'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import { auth, build, eventually, registerWorker, settlesWithin, sleep, testDatabase } from './helper.ts'
import { closeRedisClients } from '../src/redis.ts'

// A private redis-server that the test may stop and start; the shared one is never touched.
async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

async function startRedis (port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  child.stdout!.on('data', chunk => { out += chunk.toString() })
  for (let i = 0; i < 150 && !out.includes('Ready to accept connections'); i++) await sleep(100)
  if (!out.includes('Ready to accept connections')) throw new Error('redis-server did not start')
  return child
}

async function stopRedis (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  child.kill('SIGTERM')
  await once(child, 'exit')
}

// Generous: a loaded machine reconnects slowly; what counts is that it happens by itself.
const waitFor = (check: () => Promise<boolean>) => eventually(check, 15_000, 100)

t.test('the node reports Redis down during an outage and heals by itself', { skip: spawnable() ? false : 'no redis-server binary' }, async t => {
  const port = await freePort()
  let redis = await startRedis(port)
  t.teardown(() => stopRedis(redis))
  const app = await build(t, { env: { REDIS_URL: `redis://127.0.0.1:${port}` } })
  const readyz = async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode

  t.equal(await readyz(), 200)
  await stopRedis(redis)
  t.ok(await waitFor(async () => (await readyz()) === 503), '503 while Redis is down')

  redis = await startRedis(port)
  t.ok(await waitFor(async () => (await readyz()) === 200), '200 again once Redis is back')
  t.ok(await waitFor(async () => (await app.redis.pubsub('NUMSUB', app.events.channel))[1] === 1),
    'the event subscription came back too')
})

t.test('commands answer 503 at once while Redis is down, and are queued again once it is back', { skip: spawnable() ? false : 'no redis-server binary' }, async t => {
  const port = await freePort()
  let redis = await startRedis(port)
  t.teardown(() => stopRedis(redis))
  const db = await testDatabase(t)
  const url = `redis://127.0.0.1:${port}`
  const app = await build(t, { db, env: { REDIS_URL: url, COMMAND_TIMEOUT_MS: '100' } })
  const prefix = app.config.REDIS_PREFIX
  await db.prisma.session.create({ data: { id: 'outage', name: 'O', authMethod: 'qrcode' } })
  const worker = async () => {
    const client = new Redis(url, { maxRetriesPerRequest: 1 })
    await registerWorker(client, prefix, 'w1')
    await closeRedisClients(client)
  }
  const restart = async () => (await app.inject({ method: 'POST', url: '/api/sessions/outage/restart', headers: auth })).json().code as string

  await worker()
  t.equal(await restart(), 'WORKER_TIMEOUT', 'queued while Redis is up')
  await stopRedis(redis)
  t.ok(await waitFor(async () => app.redis.status !== 'ready'), 'the node noticed')
  // Redis stays down until the test starts it again: a command that waited for it would not answer.
  t.equal(await settlesWithin(restart(), 10_000), 'DEPENDENCY_UNAVAILABLE', '503 while Redis is down')

  redis = await startRedis(port)
  // The private server keeps nothing: the worker registers again, as a real one would.
  t.ok(await waitFor(async () => {
    try { await worker(); return true } catch { return false }
  }))
  t.ok(await waitFor(async () => (await restart()) === 'WORKER_TIMEOUT'), 'commands are queued again')
})

function spawnable (): boolean {
  return (process.env.PATH ?? '').split(':').some(dir => {
    try {
      return statSync(`${dir}/redis-server`).isFile()
    } catch {
      return false
    }
  })
}
