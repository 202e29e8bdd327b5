import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import {
  StaleGenerationError,
  assertSessionGeneration,
  claimSessionGeneration,
  updateSessionFenced,
  withSessionGeneration,
} from '../src/index.ts'
import { migratedPrisma } from './helpers.ts'

const { prisma } = await migratedPrisma(t)

async function sessionAt (generation: bigint) {
  const id = `s-${randomUUID()}`
  await prisma.session.create({ data: { id, name: 'n', authMethod: 'qrcode', generation } })
  return id
}

function writeKey (sessionId: string, generation: bigint, id: string) {
  return withSessionGeneration(prisma, sessionId, generation, (tx) =>
    tx.authKey.create({ data: { sessionId, type: 'pre-key', id, value: { gen: String(generation) } } })
  )
}

t.test('the current owner writes; a stale owner is refused and writes nothing', async (t) => {
  const id = await sessionAt(1n)
  await writeKey(id, 1n, 'a')

  t.equal(await claimSessionGeneration(prisma, id, 2n), true, 'a new owner takes the session')
  const err = await writeKey(id, 1n, 'b').catch((e: unknown) => e)
  t.ok(err instanceof StaleGenerationError)
  t.match(err, { code: 'STALE_GENERATION', sessionId: id, generation: 1n })
  t.equal(await prisma.authKey.count({ where: { sessionId: id, id: 'b' } }), 0, 'the late write left nothing')

  await writeKey(id, 2n, 'c')
  t.same((await prisma.authKey.findMany({ where: { sessionId: id }, orderBy: { id: 'asc' } })).map((k) => k.id), ['a', 'c'])
})

t.test('a write after the refused check in the same transaction is rolled back', async (t) => {
  const id = await sessionAt(5n)
  await t.rejects(
    prisma.$transaction(async (tx) => {
      await tx.authKey.create({ data: { sessionId: id, type: 'session', id: 'x', value: {} } })
      await assertSessionGeneration(tx, id, 4n)
    }),
    StaleGenerationError
  )
  t.equal(await prisma.authKey.count({ where: { sessionId: id } }), 0)
})

t.test('withSessionGeneration runs inside a transaction it is given', async (t) => {
  const id = await sessionAt(3n)
  await prisma.$transaction(async (tx) => {
    await withSessionGeneration(tx, id, 3n, (inner) =>
      inner.authCreds.create({ data: { sessionId: id, creds: { ok: true } } })
    )
  })
  t.equal(await prisma.authCreds.count({ where: { sessionId: id } }), 1)
  await t.rejects(
    prisma.$transaction((tx) => withSessionGeneration(tx, id, 2n, async () => 'never')),
    StaleGenerationError
  )
})

t.test('a missing session refuses every write', async (t) => {
  await t.rejects(writeKey(`s-${randomUUID()}`, 0n, 'a'), StaleGenerationError)
})

t.test('updateSessionFenced updates only for the current generation', async (t) => {
  const id = await sessionAt(7n)
  await updateSessionFenced(prisma, id, 7n, { state: 'connected' })
  await t.rejects(updateSessionFenced(prisma, id, 6n, { state: 'disconnected', lastError: 'late' }), StaleGenerationError)
  const s = await prisma.session.findUniqueOrThrow({ where: { id } })
  t.equal(s.state, 'connected')
  t.equal(s.lastError, null)
})

t.test('generations only move forward', async (t) => {
  const id = await sessionAt(10n)
  t.equal(await claimSessionGeneration(prisma, id, 10n), false)
  t.equal(await claimSessionGeneration(prisma, id, 9n), false)
  t.equal(await claimSessionGeneration(prisma, id, 11n), true)
  t.equal((await prisma.session.findUniqueOrThrow({ where: { id } })).generation, 11n)
  t.equal(await claimSessionGeneration(prisma, `s-${randomUUID()}`, 1n), false, 'unknown session')
})

/** Whether `n` backends of this database wait on a lock (Postgres says so), polled with a generous deadline. */
async function lockWaiters (n: number): Promise<boolean> {
  const until = Date.now() + 10_000
  for (;;) {
    const [{ waiting }] = await prisma.$queryRaw<Array<{ waiting: bigint }>>`
      SELECT count(*) AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`
    if (Number(waiting) >= n) return true
    if (Date.now() >= until) return false
    await sleep(20)
  }
}

t.test('a takeover waits for an in-flight write of the old owner to commit', async (t) => {
  const id = await sessionAt(1n)
  let releaseWrite!: () => void
  const held = new Promise<void>((resolve) => (releaseWrite = resolve))
  let wrote!: () => void
  const written = new Promise<void>((resolve) => (wrote = resolve))
  const order: string[] = []
  const write = withSessionGeneration(prisma, id, 1n, async (tx) => {
    await tx.authKey.create({ data: { sessionId: id, type: 'pre-key', id: 'in-flight', value: {} } })
    wrote()
    await held
    order.push('write committed')
  })
  await written
  const takeover = claimSessionGeneration(prisma, id, 2n).then((ok) => {
    order.push('takeover done')
    return ok
  })
  t.ok(await lockWaiters(1), 'the takeover waits on the writer\'s lock')
  t.same(order, [], 'the takeover blocks on the writer')
  releaseWrite()
  await write
  t.equal(await takeover, true)
  t.same(order, ['write committed', 'takeover done'])
  t.equal(await prisma.authKey.count({ where: { sessionId: id, id: 'in-flight' } }), 1)
})

t.test('an old owner whose check waited on a takeover is refused once it commits', async (t) => {
  const id = await sessionAt(1n)
  let commitTakeover!: () => void
  const gate = new Promise<void>((resolve) => (commitTakeover = resolve))
  let claimed!: () => void
  const claimMade = new Promise<void>((resolve) => (claimed = resolve))
  const takeover = prisma.$transaction(async (tx) => {
    await claimSessionGeneration(tx, id, 2n)
    claimed()
    await gate
  })
  await claimMade
  const late = writeKey(id, 1n, 'late').catch((e: unknown) => e)
  t.ok(await lockWaiters(1), 'the old owner\'s check waits on the takeover')
  commitTakeover()
  await takeover
  t.ok((await late) instanceof StaleGenerationError)
  t.equal(await prisma.authKey.count({ where: { sessionId: id } }), 0)
})
