import t from 'tap'
import { randomUUID } from 'node:crypto'
import { createOwnerRegistry, createRedisConnection, isCluster, reassertOwnership, REASSERT_CHUNK, redisKeys, renewWorkerLease, type RedisClient } from '../src/index.ts'

/** Polls until the check holds; false after a generous deadline. */
async function eventually (check: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const until = Date.now() + ms
  while (!(await check())) {
    if (Date.now() >= until) return false
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  return true
}

// TEST_REDIS_URL may name a cluster (redis+cluster://…): cluster.test.ts runs this file against one.
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A Redis client and a key prefix of this test's own, both cleaned up at teardown. */
function freshPrefix (t: { teardown (fn: () => unknown): void }): { redis: RedisClient, prefix: string } {
  const redis = createRedisConnection(redisUrl)
  const prefix = `wss-test-${randomUUID().slice(0, 8)}`
  t.teardown(async () => {
    for (const node of isCluster(redis) ? redis.nodes('master') : [redis]) {
      for (const name of await node.keys(`{${prefix}}:*`)) await redis.del(name)
    }
    redis.disconnect()
  })
  return { redis, prefix }
}

/** Registers a live worker with a published load, as its renewals do. */
async function live (redis: RedisClient, prefix: string, id: string, load: number, leaseMs = 60_000) {
  await renewWorkerLease(redis, prefix, id, leaseMs, { load })
}

t.test('assign spreads a burst of new sessions over the live workers', async t => {
  const { redis, prefix } = freshPrefix(t)
  const keys = redisKeys(prefix)
  await live(redis, prefix, 'a', 3)
  await live(redis, prefix, 'b', 0)
  await redis.zadd(keys.workers, 1, 'dead') // listed, but its lease ended long ago
  const registry = createOwnerRegistry(redis, prefix)

  // Six sessions at once, before any worker published a new load: b catches up with a, then they alternate.
  const picks = []
  for (let i = 0; i < 6; i++) picks.push(await registry.assign())
  t.same(picks, ['b', 'b', 'b', 'a', 'b', 'a'], 'counted assignments, not only the published load')
  t.notOk(picks.includes('dead'), 'never a dead worker')

  // b started two of them and published its load: its pending count went down by two.
  await registry.settle('b')
  await registry.settle('b')
  await live(redis, prefix, 'b', 2)
  t.match(await redis.hget(keys.pending, 'b'), /^2:/, 'two still pending')
  t.equal(await registry.assign(), 'b', 'b: 2 running + 2 pending; a: 3 + 2')
  await registry.settle('x') // settling with nothing pending stays at zero
  t.equal(await redis.hget(keys.pending, 'x'), null)

  await redis.zadd(keys.workers, 1, 'a', 1, 'b')
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
  t.ok(await eventually(async () => await redis.exists(redisKeys(prefix).lock('sweep')) === 0), 'the lock expires by itself')
  t.notOk(await registry.unlock('sweep', 'w2'), 'an expired lock is not released twice')
  t.ok(await registry.lock('sweep', 'w1', 60_000), 'and can be taken again')
})

t.test('nextLeaseExpiry tells when the first running lease ends', async t => {
  const { redis, prefix } = freshPrefix(t)
  const registry = createOwnerRegistry(redis, prefix)
  t.equal(await registry.nextLeaseExpiry(), undefined, 'no workers')
  await redis.zadd(redisKeys(prefix).workers, 1, 'gone')
  // Leases minutes apart, so however slow the machine the two answers cannot be confused.
  await live(redis, prefix, 'a', 0, 600_000)
  await live(redis, prefix, 'b', 0, 300_000)
  const left = await registry.nextLeaseExpiry()
  t.ok(left !== undefined && left > 240_000 && left <= 300_000, `b's lease first (${left} ms)`)
  await registry.forgetWorker('b')
  const next = await registry.nextLeaseExpiry()
  t.ok(next !== undefined && next > 540_000 && next <= 600_000, `then a's (${next} ms); a lapsed lease is skipped`)
})

t.test('live and dead workers follow the leases; owners are alive only while their worker\'s lease runs', async t => {
  const { redis, prefix } = freshPrefix(t)
  const keys = redisKeys(prefix)
  const registry = createOwnerRegistry(redis, prefix)
  t.notOk(await renewWorkerLease(redis, prefix, 'a', 60_000, { load: 1, pid: 7 }), 'a first renewal finds no running lease')
  t.ok(await renewWorkerLease(redis, prefix, 'a', 60_000, { load: 2, pid: 7 }), 'the next one finds it running')
  await live(redis, prefix, 'b', 0, 60_000)
  await redis.zadd(keys.workers, 1, 'b') // b's lease ended
  t.same(await registry.liveWorkers(), [{ id: 'a', load: 2, info: { load: 2, pid: 7 } }], 'a, with what it published last')
  t.same(await registry.deadWorkers(), ['b'])
  await redis.set(keys.owner('s1'), 'a|3')
  await redis.set(keys.owner('s2'), 'b|4')
  const owners = await registry.owners(['s1', 's2', 's3'])
  t.same(owners.get('s1'), { workerId: 'a', generation: 3n, alive: true })
  t.same(owners.get('s2'), { workerId: 'b', generation: 4n, alive: false })
  t.equal(owners.get('s3'), null)
  t.notOk(await renewWorkerLease(redis, prefix, 'b', 60_000, { load: 0 }), 'b\'s renewal after its lease lapsed says so')
  await registry.forgetWorker('a')
  t.same((await registry.liveWorkers()).map(w => w.id), ['b'], 'a forgotten')
})

t.test('reassertOwnership: a live worker sets its sessions back only while the registry is new', async t => {
  const { redis, prefix } = freshPrefix(t)
  const keys = redisKeys(prefix)
  const registry = createOwnerRegistry(redis, prefix)
  const grace = 60_000
  await live(redis, prefix, 'w1', 0) // the renewal after the loss: a running lease, a new epoch
  await live(redis, prefix, 'w2', 0)
  await redis.set(keys.owner('mine'), 'w1|pending') // already names w1
  await redis.set(keys.owner('theirs'), 'w2|9')
  // More sessions than one call carries: the chunks all apply.
  const held = new Map<string, bigint>([['mine', 3n], ['theirs', 4n]])
  for (let i = 0; i < REASSERT_CHUNK * 2 + 10; i++) held.set(`s${i}`, BigInt(i + 10))
  const kept = await reassertOwnership(redis, prefix, 'w1', grace, held)
  t.equal(kept.size, held.size - 1, 'every session but the one another worker holds')
  t.notOk(kept.has('theirs'))
  t.same(await registry.owner('mine'), { workerId: 'w1', generation: 3n, alive: true }, 'set back with the generation the worker holds')
  t.same(await registry.owner('s0'), { workerId: 'w1', generation: 10n, alive: true })
  t.same(await registry.owner(`s${REASSERT_CHUNK * 2 + 9}`), { workerId: 'w1', generation: BigInt(REASSERT_CHUNK * 2 + 19), alive: true }, 'the last chunk too')
  t.same(await registry.owner('theirs'), { workerId: 'w2', generation: 9n, alive: true }, 'another worker\'s key is left alone')
  t.equal((await registry.ownedBy('w1')).length, held.size - 1, 'the owned set is restored')
  t.same([...await reassertOwnership(redis, prefix, 'w1', grace, new Map([['mine', 3n]]))], ['mine'], 'again: nothing changes')

  // Grace over: nothing is set back.
  await redis.del(keys.owner('late'))
  t.same([...await reassertOwnership(redis, prefix, 'w1', 0, new Map([['late', 1n]]))], [], 'refused once the registry is older than the grace')
  t.equal(await registry.owner('late'), null)
  // No epoch (Redis lost its data again since the renewal): nothing.
  await redis.del(keys.epoch)
  t.same([...await reassertOwnership(redis, prefix, 'w1', grace, new Map([['late', 1n]]))], [], 'refused without an epoch')
  t.equal(await redis.exists(keys.epoch), 0, 'and the epoch is not created by it')
  // A worker whose lease does not run: nothing.
  await live(redis, prefix, 'w1', 0)
  await redis.zadd(keys.workers, 1, 'w1')
  t.same([...await reassertOwnership(redis, prefix, 'w1', grace, new Map([['late', 1n]]))], [], 'refused to a worker whose lease lapsed')
  t.equal(await registry.owner('late'), null)
  t.same([...await reassertOwnership(redis, prefix, 'w3', grace, new Map([['late', 1n]]))], [], 'and to one never registered')
})
