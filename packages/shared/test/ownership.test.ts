import t from 'tap'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { createOwnerRegistry } from '../src/index.ts'

/** Polls until the check holds; false after a generous deadline. */
async function eventually (check: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const until = Date.now() + ms
  while (!(await check())) {
    if (Date.now() >= until) return false
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  return true
}

const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A Redis client and a key prefix of this test's own, both cleaned up at teardown. */
function freshPrefix (t: { teardown (fn: () => unknown): void }) {
  const redis = new Redis(redisUrl)
  const prefix = `wss-test-${randomUUID().slice(0, 8)}`
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}:*`)
    if (keys.length) await redis.del(...keys)
    redis.disconnect()
  })
  return { redis, prefix }
}

t.test('assign spreads a burst of new sessions over the live workers', async t => {
  const { redis, prefix } = freshPrefix(t)
  const live = async (id: string, load: number) => {
    await redis.set(`${prefix}:worker:${id}`, JSON.stringify({ load }), 'PX', 60_000)
    await redis.sadd(`${prefix}:workers`, id)
  }
  await live('a', 3)
  await live('b', 0)
  await redis.sadd(`${prefix}:workers`, 'dead') // listed, but its liveness key is gone
  const registry = createOwnerRegistry(redis, prefix)

  // Six sessions at once, before any worker published a new load: b catches up with a, then they alternate.
  const picks = []
  for (let i = 0; i < 6; i++) picks.push(await registry.assign())
  t.same(picks, ['b', 'b', 'b', 'a', 'b', 'a'], 'counted assignments, not only the published load')
  t.notOk(picks.includes('dead'), 'never a dead worker')

  // b started two of them and published its load: its pending count went down by two.
  await registry.settle('b')
  await registry.settle('b')
  await live('b', 2)
  t.equal(Number(await redis.get(`${prefix}:pending:b`)), 2)
  await registry.settle('x') // settling with nothing pending stays at zero
  t.equal(await redis.get(`${prefix}:pending:x`), null)

  await redis.del(`${prefix}:worker:a`, `${prefix}:worker:b`)
  t.equal(await registry.assign(), undefined, 'no live worker: nothing assigned')
})

t.test('a lock is exclusive until its holder releases it or it expires; only the holder releases it', async t => {
  const { redis, prefix } = freshPrefix(t)
  const registry = createOwnerRegistry(redis, prefix)
  t.ok(await registry.lock('sweep', 'w1', 60_000), 'w1 takes it')
  t.notOk(await registry.lock('sweep', 'w2', 60_000), 'w2 cannot while w1 holds it')
  t.notOk(await registry.lock('sweep', 'w1', 60_000), 'nor can w1 take it twice')
  t.notOk(await registry.unlock('sweep', 'w2'), 'w2 cannot release what w1 holds')
  t.notOk(await registry.lock('sweep', 'w2', 60_000), 'still held by w1')
  t.ok(await registry.unlock('sweep', 'w1'), 'w1 releases it')
  t.ok(await registry.lock('sweep', 'w2', 100), 'w2 takes it at once')
  t.ok(await eventually(async () => await redis.exists(`${prefix}:lock:sweep`) === 0), 'the lock expires by itself')
  t.notOk(await registry.unlock('sweep', 'w2'), 'an expired lock is not released twice')
  t.ok(await registry.lock('sweep', 'w1', 60_000), 'and can be taken again')
})

t.test('nextLeaseExpiry tells when the first listed liveness key runs out', async t => {
  const { redis, prefix } = freshPrefix(t)
  const registry = createOwnerRegistry(redis, prefix)
  t.equal(await registry.nextLeaseExpiry(), undefined, 'no workers')
  await redis.sadd(`${prefix}:workers`, 'a', 'b', 'gone')
  // Leases minutes apart, so however slow the machine the two answers cannot be confused.
  await redis.set(`${prefix}:worker:a`, '{}', 'PX', 600_000)
  await redis.set(`${prefix}:worker:b`, '{}', 'PX', 300_000)
  const left = await registry.nextLeaseExpiry()
  t.ok(left !== undefined && left > 240_000 && left <= 300_000, `b's key first (${left} ms)`)
  await redis.del(`${prefix}:worker:b`)
  const next = await registry.nextLeaseExpiry()
  t.ok(next !== undefined && next > 540_000 && next <= 600_000, `then a's (${next} ms); a listed worker without a key is skipped`)
})
