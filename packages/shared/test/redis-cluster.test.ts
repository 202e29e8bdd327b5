import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { Cluster } from 'ioredis'
import { ClaimResult, createOwnerRegistry, createRedisConnection, redisKeys, registerScripts, renewWorkerLease } from '../src/index.ts'

// A real cluster of three masters (scripts/redis-cluster.sh), on ports of this test's own.
const script = fileURLToPath(new URL('../../../scripts/redis-cluster.sh', import.meta.url))
const BASE = '7100'
const url = execFileSync('bash', [script, 'start', BASE], { encoding: 'utf8' }).trim()
t.teardown(() => { execFileSync('bash', [script, 'stop', BASE]) })

function connect (t: { teardown (fn: () => unknown): void }) {
  const redis = createRedisConnection(url)
  t.teardown(() => redis.disconnect())
  return redis
}

t.test('the cluster has three masters, and every registry key of a deployment lands in one slot', async t => {
  const redis = connect(t)
  t.ok(redis instanceof Cluster, 'a redis+cluster:// URL makes a cluster client')
  if (!(redis instanceof Cluster)) return
  await redis.set('probe', '1') // connects and loads the slot map
  t.equal(redis.nodes('master').length, 3)
  const keys = redisKeys(`p-${randomUUID().slice(0, 8)}`)
  const registry = [keys.workers, keys.workerInfo, keys.owner('s1'), keys.owner('s2'), keys.owned('w1'), keys.pending, keys.epoch, keys.lock('sweep')]
  const slots = await Promise.all(registry.map(async k => await redis.cluster('KEYSLOT', k)))
  t.equal(new Set(slots).size, 1, 'one slot for the registry')
  const unbraced = await Promise.all(['a', 'b', 'c', 'd'].map(async s => await redis.cluster('KEYSLOT', `${keys.prefix}:owner:${s}`)))
  t.ok(new Set(unbraced).size > 1, 'without the tag the same names would spread over slots (so the tag is what keeps them together)')
  const bull = await Promise.all(['cmd-w1:wait', 'cmd-w1:active', 'cmd-w1:meta'].map(async s => await redis.cluster('KEYSLOT', `${keys.bull}:${s}`)))
  t.equal(new Set(bull).size, 1, 'one queue\'s BullMQ keys share a slot')
})

t.test('the ownership scripts run on the cluster: claim, renew, assign, release', async t => {
  const redis = registerScripts(connect(t))
  const prefix = `p-${randomUUID().slice(0, 8)}`
  const keys = redisKeys(prefix)
  const registry = createOwnerRegistry(redis, prefix)
  t.notOk(await renewWorkerLease(redis, prefix, 'w1', 60_000, { load: 0 }), 'first renewal')
  t.ok(await renewWorkerLease(redis, prefix, 'w1', 60_000, { load: 0 }))
  await redis.set(keys.epoch, 0) // a registry old enough for claims
  t.equal(await redis.wssClaim(keys.owner('s1'), keys.epoch, keys.workers, keys.owned('w1'), keys.owned('w1'), 'w1', 's1', 0, ''), ClaimResult.Granted)
  t.equal(await redis.wssConfirm(keys.owner('s1'), 'w1', '5'), 1)
  t.same(await registry.owner('s1'), { workerId: 'w1', generation: 5n, alive: true })
  t.same(await registry.ownedBy('w1'), ['s1'])
  await renewWorkerLease(redis, prefix, 'w2', 60_000, { load: 3 })
  t.equal(await redis.wssClaim(keys.owner('s1'), keys.epoch, keys.workers, keys.owned('w2'), keys.owned('w1'), 'w2', 's1', 0, 'w1'), ClaimResult.OwnedElsewhere, 'w1 is alive')
  t.equal(await registry.assign(), 'w1', 'least loaded')
  await redis.zadd(keys.workers, 1, 'w1') // w1's lease ends
  t.equal(await redis.wssClaim(keys.owner('s1'), keys.epoch, keys.workers, keys.owned('w2'), keys.owned('w1'), 'w2', 's1', 0, 'w1'), ClaimResult.Granted, 'taken from a dead owner')
  t.same(await registry.ownedBy('w1'), [], 'and moved out of its owned set')
  t.same(await registry.ownedBy('w2'), ['s1'])
  t.equal(await redis.wssRelease(keys.owner('s1'), keys.owned('w2'), 'w2', 's1'), 1)
  t.equal(await registry.owner('s1'), null)
  t.same(await registry.deadWorkers(), ['w1'])
  await registry.forgetWorker('w1')
  await registry.forgetWorker('w2')
  t.same(await registry.liveWorkers(), [])
})

t.test('pub/sub crosses the cluster: a message published through any node reaches a subscriber', async t => {
  const subscriber = connect(t)
  const publisher = connect(t)
  const channel = redisKeys(`p-${randomUUID().slice(0, 8)}`).eventsChannel
  const got = new Promise<string>(resolve => subscriber.on('message', (_ch: string, message: string) => resolve(message)))
  await subscriber.subscribe(channel)
  for (const node of (publisher as Cluster).nodes('master')) await node.publish(channel, 'from a master')
  t.equal(await got, 'from a master')
})

t.test('the registry\'s own tests pass on the cluster', async t => {
  const file = fileURLToPath(new URL('./ownership.test.ts', import.meta.url))
  const run = spawnSync(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, TEST_REDIS_URL: url }, encoding: 'utf8', timeout: 120_000 })
  t.equal(run.status, 0, run.status === 0 ? 'ownership.test.ts passed' : run.stdout.slice(-4000) + run.stderr.slice(-2000))
  t.match(run.stdout, /# \{ total: \d+, pass: \d+ \}|^1\.\.\d+$/m, 'it ran its tests')
})
