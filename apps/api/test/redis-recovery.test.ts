import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { statSync } from 'node:fs'
import { createServer } from 'node:net'
import { build, sleep } from './helper.ts'

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
  for (let i = 0; i < 50 && !out.includes('Ready to accept connections'); i++) await sleep(100)
  if (!out.includes('Ready to accept connections')) throw new Error('redis-server did not start')
  return child
}

async function stopRedis (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  child.kill('SIGTERM')
  await once(child, 'exit')
}

async function waitFor (check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await check()) return true
    await sleep(100)
  }
  return false
}

t.test('the node reports Redis down during an outage and heals by itself', { skip: spawnable() ? false : 'no redis-server binary' }, async t => {
  const port = await freePort()
  let redis = await startRedis(port)
  t.teardown(() => stopRedis(redis))
  const app = await build(t, { env: { REDIS_URL: `redis://127.0.0.1:${port}` } })
  const readyz = async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode

  t.equal(await readyz(), 200)
  await stopRedis(redis)
  t.ok(await waitFor(async () => (await readyz()) === 503, 2000), '503 while Redis is down')

  redis = await startRedis(port)
  t.ok(await waitFor(async () => (await readyz()) === 200, 5000), '200 again once Redis is back')
  t.ok(await waitFor(async () => (await app.redis.pubsub('NUMSUB', app.events.channel))[1] === 1, 5000),
    'the event subscription came back too')
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
