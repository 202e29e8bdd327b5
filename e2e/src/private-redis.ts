import { spawn, type ChildProcess } from 'node:child_process'
import { eventually, freePort } from './stack.ts'

/** A private Redis server without persistence: `stop()` then `start()` is a restart that loses every key. */
export async function privateRedis (t: { teardown (fn: () => unknown): void }) {
  const port = await freePort()
  let proc: ChildProcess | undefined
  const start = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    const { Redis } = await import('ioredis')
    const ok = await eventually(async () => {
      const r = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      r.on('error', () => undefined)
      try { await r.connect(); return (await r.ping()) === 'PONG' } finally { r.disconnect() }
    }, 10_000, 100)
    if (!ok) throw new Error('redis-server did not start')
  }
  const stop = async () => {
    const p = proc
    if (!p || p.exitCode !== null) return
    const exited = new Promise(resolve => p.on('exit', resolve))
    p.kill('SIGKILL')
    await exited
  }
  await start()
  t.teardown(stop)
  return { url: `redis://127.0.0.1:${port}`, start, stop }
}
