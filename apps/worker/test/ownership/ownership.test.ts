import t from 'tap'
import { randomUUID } from 'node:crypto'
import { claimSessionGeneration, takeSessionGeneration } from '@wss/db'
import { createOwnerRegistry, createRedisConnection, redisKeys } from '@wss/shared'
import { createOwnership, type Ownership, type OwnershipOptions } from '../../src/ownership/ownership.ts'
import { leaseConnectionOptions } from '../../src/ownership/lease-connection.ts'
import { metrics } from '../../src/lib/metrics.ts'
import { eventually, metricValue, migratedPrisma, redisClient, redisProxy, uniquePrefix } from '../helpers.ts'

const LEASE = { leaseTtlMs: 1500, renewEveryMs: 300, selfFenceAfterMs: 900 }
// For what must hold however slow the machine is: a lease that outlives the test's next steps.
const LONG_LEASE = { leaseTtlMs: 6000, renewEveryMs: 1000, selfFenceAfterMs: 4000 }

t.test('one owner per session, fenced by a Postgres generation', async t => {
  const { prisma } = await migratedPrisma(t)
  const prefix = uniquePrefix()
  const sessionId = `s-${randomUUID().slice(0, 8)}`
  await prisma.session.create({ data: { id: sessionId, name: 'own', authMethod: 'qrcode', state: 'connecting' } })
  // The worker's own claim: Postgres moves the generation forward; the registry records it.
  const claimGeneration = (id: string) => takeSessionGeneration(prisma, id)
  const lost: Record<string, Array<{ ids: string[], reason: string }>> = { a: [], b: [] }
  // What happened, in the order it happened.
  const order: string[] = []
  const make = async (name: 'a' | 'b', redisUrl?: string): Promise<Ownership> => {
    const o = createOwnership({
      redis: await redisClient(t, redisUrl), prefix, workerId: `${name}-${randomUUID().slice(0, 6)}`, ...LONG_LEASE,
      claimGeneration,
      load: () => o.owned().size,
      onLost: (ids, reason) => { lost[name]!.push({ ids, reason }); order.push(`${name} stopped ${ids.join(',')}`) }
    })
    t.teardown(() => o.stop())
    return o
  }
  const proxy = await redisProxy(t)
  const a = await make('a', proxy.url)
  const b = await make('b')
  await a.start()
  await b.start()
  const registry = createOwnerRegistry(await redisClient(t), prefix)

  const genA = await a.claim(sessionId)
  t.equal(genA, 1n, 'the first claim takes generation 1')
  t.equal(await b.claim(sessionId), null, 'a live owner keeps its session')
  t.match(await registry.owner(sessionId), { workerId: a.workerId, generation: 1n, alive: true })

  // Worker A loses Redis: it must stop its sessions before its lease can expire.
  const fencingsBefore = await metricValue(metrics.selfFencings)
  proxy.cut()
  // A renewed at most one interval before the cut: its lease still runs for seconds.
  t.equal(await b.claim(sessionId), null, 'right after the cut, A\'s lease still holds the session')
  let genB: bigint | null = null
  await eventually(async () => {
    genB = await b.claim(sessionId)
    if (genB !== null) order.push(`b claimed ${sessionId}`)
    return genB !== null
  }, 20_000, 50)
  t.equal(genB, 2n, 'B takes over with a newer generation once A expired')
  t.equal(lost.a.length, 1, 'A stopped its session once')
  t.equal(lost.a[0]!.reason, 'fenced')
  t.same(order, [`a stopped ${sessionId}`, `b claimed ${sessionId}`], 'A stopped before B claimed: never two owners')
  t.equal(await metricValue(metrics.selfFencings) - fencingsBefore, 1, 'the self-fencing is counted')
  t.notOk(a.healthy(), 'A knows it is fenced')
  // The stale owner's writes are refused where they happen (Postgres generation check).
  t.equal(await claimSessionGeneration(prisma, sessionId, 1n), false, 'generation 1 is stale')

  // Redis comes back for A: it recovers, and does not get the session back while B lives.
  proxy.restore()
  t.ok(await eventually(() => a.healthy(), 15_000), 'A recovers by itself')
  t.equal(await a.claim(sessionId), null)
  t.match(await registry.owner(sessionId), { workerId: b.workerId, generation: 2n, alive: true })

  // Release hands the session over at once.
  await b.release(sessionId)
  t.equal(await a.claim(sessionId), 3n, 'a released session is claimable immediately')
})

t.test('a blip shorter than the fence threshold drops nothing', async t => {
  const prefix = uniquePrefix()
  const proxy = await redisProxy(t)
  const lostIds: string[] = []
  let failedRenewals = 0
  let gen = 0n
  const o = createOwnership({
    redis: await redisClient(t, proxy.url), prefix, workerId: 'w1', ...LONG_LEASE,
    claimGeneration: async () => ++gen, load: () => 0, onLost: ids => lostIds.push(...ids), onError: () => { failedRenewals++ }
  })
  t.teardown(() => o.stop())
  await o.start()
  await o.claim('s1')
  const admin = await redisClient(t)
  const registry = createOwnerRegistry(admin, prefix)
  const renewedAt = async () => Number((await registry.liveWorkers()).find(w => w.id === 'w1')?.info.at ?? 0)
  const [failedBefore, fencingsBefore] = [await metricValue(metrics.leaseRenewals, { result: 'error' }), await metricValue(metrics.selfFencings)]
  proxy.cut()
  t.ok(await eventually(() => failedRenewals > 0, 15_000), 'a renewal failed during the blip')
  proxy.restore()
  const restoredAt = Date.now()
  // A renewal that got through after the blip: the moment to fence has passed.
  t.ok(await eventually(async () => await renewedAt() >= restoredAt, 15_000), 'renewing again')
  t.same(lostIds, [], 'no session stopped')
  t.ok(await metricValue(metrics.leaseRenewals, { result: 'error' }) > failedBefore, 'the failed renewal is counted')
  t.equal(await metricValue(metrics.selfFencings), fencingsBefore, 'no self-fencing counted')
  t.ok(o.healthy())
  t.equal(o.owned().get('s1'), 1n)
})

t.test('registry: live and dead workers, load, least-loaded choice', async t => {
  const prefix = uniquePrefix()
  let gen = 0n
  const mk = async (id: string, load: number) => {
    const o = createOwnership({ redis: await redisClient(t), prefix, workerId: id, ...LEASE, claimGeneration: async () => ++gen, load: () => load, onLost: () => {} })
    t.teardown(() => o.stop())
    return o
  }
  const w1 = await mk('w1', 5)
  const w2 = await mk('w2', 1)
  const w3 = await mk('w3', 3)
  await Promise.all([w1.start(), w2.start(), w3.start()])
  const registry = createOwnerRegistry(await redisClient(t), prefix)
  const live = await registry.liveWorkers()
  t.same(live.map(w => [w.id, w.load]).sort(), [['w1', 5], ['w2', 1], ['w3', 3]])
  const picks: Array<string | undefined> = []
  for (let i = 0; i < 4; i++) picks.push(await registry.assign())
  t.same(picks, ['w2', 'w2', 'w2', 'w3'], 'new sessions go to the least-loaded worker, counting those assigned (ties by id)')
  await w3.claim('x')
  await w3.stop() // dies without releasing
  t.ok(await eventually(async () => (await registry.deadWorkers()).includes('w3'), 15_000), 'w3 is listed dead after its lease')
  t.same(await registry.ownedBy('w3'), ['x'], 'its sessions are known for the takeover')
  t.match(await registry.owner('x'), { workerId: 'w3', alive: false })
  await w1.stop({ release: true })
  t.notOk((await registry.liveWorkers()).some(w => w.id === 'w1'), 'a graceful stop leaves at once')
})

/** Deletes every key of the deployment (what a Redis restarted without its files holds: nothing); `then` runs in the same transaction. */
async function loseRedisData (admin: Awaited<ReturnType<typeof redisClient>>, prefix: string, then?: (m: ReturnType<typeof admin.multi>) => void) {
  const keys = await admin.keys(`{${prefix}}:*`)
  const m = admin.multi()
  if (keys.length) m.del(...keys)
  then?.(m)
  await m.exec()
}

/** How long ago (Redis' clock) the registry was created; undefined without an epoch. */
async function registryAge (admin: Awaited<ReturnType<typeof redisClient>>, prefix: string): Promise<number | undefined> {
  const epoch = await admin.get(redisKeys(prefix).epoch)
  const [sec, usec] = await admin.time()
  return epoch === null ? undefined : Number(sec) * 1000 + Math.floor(Number(usec) / 1000) - Number(epoch)
}

t.test('Redis loses its data: a live owner keeps its sessions, and nobody can claim them, during the grace or after', async t => {
  const prefix = uniquePrefix()
  let gen = 0n
  const lost: Record<string, string[]> = { a: [], b: [] }
  let recovered = 0
  const mk = async (name: 'a' | 'b') => {
    const o = createOwnership({
      redis: await redisClient(t), prefix, workerId: `${name}-${randomUUID().slice(0, 6)}`, ...LONG_LEASE, claimGeneration: async () => ++gen, load: () => 0,
      onLost: ids => lost[name]!.push(...ids), onRecovered: () => { if (name === 'a') recovered++ }
    })
    t.teardown(() => o.stop())
    return o
  }
  const a = await mk('a')
  const b = await mk('b')
  await a.start()
  await b.start()
  t.equal(await a.claim('s1'), 1n)
  t.equal(await a.claim('s2'), 2n)
  const admin = await redisClient(t)
  const registry = createOwnerRegistry(admin, prefix)
  const [reassertedBefore, fencingsBefore] = [await metricValue(metrics.reasserted), await metricValue(metrics.selfFencings)]
  await loseRedisData(admin, prefix)

  // A claim during the grace is refused (the registry is new, then the session is owned elsewhere).
  t.equal(await b.claim('s1'), null, 'another worker\'s claim right after the loss gets nothing')
  t.ok(await eventually(async () => (await registry.owner('s1'))?.workerId === a.workerId, 10_000), 'the owner key names the live owner again')
  t.ok(await eventually(async () => await metricValue(metrics.reasserted) - reassertedBefore === 2, 10_000), 'both sessions set back')
  t.same(await registry.owner('s1'), { workerId: a.workerId, generation: 1n, alive: true }, 'with the same generation')
  t.same(await registry.owner('s2'), { workerId: a.workerId, generation: 2n, alive: true })
  t.same((await registry.ownedBy(a.workerId)).sort(), ['s1', 's2'], 'its owned set restored')
  t.ok(recovered >= 1, 'the renewal that found the lease gone counts as a recovery (scheduled jobs queued again)')

  // After the grace: still owned elsewhere, while a claim of a free session is granted again.
  t.ok(await eventually(async () => (await registryAge(admin, prefix) ?? 0) > 2 * LONG_LEASE.renewEveryMs + 500, 10_000), 'the grace is over')
  t.equal(await b.claim('s1'), null, 'a claim after the grace gets nothing either')
  t.equal(await b.claim('s2'), null)
  t.equal(await b.claim('other'), 3n, 'claims work again')
  t.same(lost, { a: [], b: [] }, 'no session stopped')
  t.equal(await metricValue(metrics.selfFencings), fencingsBefore, 'no self-fencing')
  t.same([...a.owned()], [['s1', 1n], ['s2', 2n]], 'the owner still holds both, with their generations')
  t.ok(a.healthy())
})

t.test('Redis loses its data after a worker\'s lease lapsed: it keeps nothing; the worker that took over keeps it', async t => {
  const prefix = uniquePrefix()
  let gen = 0n
  const lost: Record<string, string[]> = { a: [], b: [] }
  const mk = async (name: 'a' | 'b', redisUrl?: string) => {
    const o = createOwnership({
      redis: await redisClient(t, redisUrl), prefix, workerId: `${name}-${randomUUID().slice(0, 6)}`, ...LONG_LEASE, claimGeneration: async () => ++gen, load: () => 0,
      onLost: ids => lost[name]!.push(...ids)
    })
    t.teardown(() => o.stop())
    return o
  }
  const proxy = await redisProxy(t)
  const a = await mk('a', proxy.url)
  const b = await mk('b')
  await a.start()
  await b.start()
  t.equal(await a.claim('s'), 1n)
  const admin = await redisClient(t)
  const registry = createOwnerRegistry(admin, prefix)
  const reassertedBefore = await metricValue(metrics.reasserted)

  // A's renewals are held back longer than its lease: it stops its session, and B takes it over.
  proxy.cut()
  t.ok(await eventually(() => lost.a.length > 0, 20_000), 'A stopped its session')
  t.ok(await eventually(async () => await b.claim('s') !== null, 20_000, 100), 'B took it over once A\'s lease lapsed')
  t.same(await registry.owner('s'), { workerId: b.workerId, generation: 2n, alive: true })

  // Redis loses its data, then A reaches it again and finds a new registry: it has nothing to set back.
  await loseRedisData(admin, prefix)
  proxy.restore()
  t.ok(await eventually(() => a.healthy(), 20_000), 'A renews again')
  t.ok(await eventually(async () => (await registry.owner('s'))?.workerId === b.workerId, 10_000), 'the owner key names B again')
  t.same(await registry.owner('s'), { workerId: b.workerId, generation: 2n, alive: true })
  t.equal(await a.claim('s'), null, 'A cannot claim it back')
  t.same(await registry.ownedBy(a.workerId), [], 'A owns nothing')
  t.equal(a.owned().size, 0)
  t.same(lost, { a: ['s'], b: [] }, 'A stopped its session once; B kept it')
  t.equal(await metricValue(metrics.reasserted) - reassertedBefore, 1, 'only B set a session back')
})

t.test('Redis loses its data and the grace is over before the worker renews: its sessions stop', async t => {
  const prefix = uniquePrefix()
  let gen = 0n
  const lost: Array<{ ids: string[], reason: string }> = []
  const mk = async (id: string, onLost: OwnershipOptions['onLost']) => {
    const o = createOwnership({ redis: await redisClient(t), prefix, workerId: id, ...LONG_LEASE, claimGeneration: async () => ++gen, load: () => 0, onLost })
    t.teardown(() => o.stop())
    return o
  }
  const a = await mk('a', (ids, reason) => lost.push({ ids, reason }))
  const b = await mk('b', () => {})
  await a.start()
  t.equal(await a.claim('s1'), 1n)
  t.equal(await a.claim('s2'), 2n)
  const admin = await redisClient(t)
  const registry = createOwnerRegistry(admin, prefix)
  const [reassertedBefore, fencingsBefore] = [await metricValue(metrics.reasserted), await metricValue(metrics.selfFencings)]
  // The registry after the loss is already older than the grace when A's renewal comes (in one
  // transaction, so no renewal creates a newer epoch in between).
  const [sec] = await admin.time()
  await loseRedisData(admin, prefix, m => m.set(redisKeys(prefix).epoch, Number(sec) * 1000 - 60_000))
  t.ok(await eventually(() => lost.length > 0, 10_000), 'A stopped its sessions')
  t.same(lost, [{ ids: ['s1', 's2'], reason: 'fenced' }], 'both, at once')
  t.equal(await metricValue(metrics.reasserted), reassertedBefore, 'none set back')
  t.equal(await metricValue(metrics.selfFencings) - fencingsBefore, 1)
  t.equal(await registry.owner('s1'), null, 'the owner key stays empty')
  t.same(await registry.ownedBy('a'), [])
  t.equal(a.owned().size, 0)
  await b.start()
  t.equal(await b.claim('s1'), 3n, 'another worker claims it at once')
})

t.test('renewals answered late (a starved event loop) keep the lease; answers later than the fence deadline do not', async t => {
  const prefix = uniquePrefix()
  const proxy = await redisProxy(t)
  // The connection the worker makes for its lease (its command timeout included).
  const redis = createRedisConnection(proxy.url, leaseConnectionOptions(LONG_LEASE.leaseTtlMs))
  redis.on('error', () => undefined)
  t.teardown(() => redis.disconnect())
  await redis.connect()
  const lost: string[] = []
  let gen = 0n
  const o = createOwnership({
    redis, prefix, workerId: 'late', ...LONG_LEASE,
    claimGeneration: async () => ++gen, load: () => 1, onLost: ids => lost.push(...ids)
  })
  t.teardown(() => o.stop())
  await o.start()
  t.equal(await o.claim('s1'), 1n)
  const fencingsBefore = await metricValue(metrics.selfFencings)

  // Every answer read 1.5 s late: each renewal outlives a 1 s wait, none is lost.
  proxy.delayAnswers(1500)
  await new Promise(resolve => setTimeout(resolve, 3 * LONG_LEASE.selfFenceAfterMs))
  t.same(lost, [], 'no session stopped over three fence deadlines')
  t.equal(await metricValue(metrics.selfFencings), fencingsBefore, 'no self-fencing')
  t.ok(o.healthy(), 'the lease holds')
  t.equal(o.owned().get('s1'), 1n)

  // Answers later than the fence deadline cannot vouch for the lease: the worker stops its sessions.
  proxy.delayAnswers(LONG_LEASE.selfFenceAfterMs + 2000)
  t.ok(await eventually(() => lost.length > 0, 20_000), 'fenced')
  t.same(lost, ['s1'])
  t.notOk(o.healthy())
})
