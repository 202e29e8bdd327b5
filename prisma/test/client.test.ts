import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { claimSessionGeneration, createPrisma } from '../src/index.ts'
import { migratedPrisma } from './helpers.ts'

const { prisma, databaseUrl } = await migratedPrisma(t)

t.test('a transaction left idle past idleInTransactionTimeoutMs is ended by Postgres and frees its locks', async (t) => {
  const stuck = createPrisma(databaseUrl, { poolSize: 2, idleInTransactionTimeoutMs: 300 })
  t.teardown(() => stuck.$disconnect())
  const id = `s-${randomUUID()}`
  await prisma.session.create({ data: { id, name: 'n', authMethod: 'qrcode', generation: 1n } })

  // The frozen client would hold the lock for a minute; the test thaws it once it has its answer.
  const thaw = new AbortController()
  t.teardown(() => thaw.abort())
  let locked!: () => void
  const lockHeld = new Promise<void>((resolve) => (locked = resolve))
  // A client that takes the session row's share lock (as an auth write does) and then stops
  // sending statements, as a frozen process would; Prisma's own timeout is out of the way.
  const frozen = stuck.$transaction(
    async (tx) => {
      await tx.$queryRaw`SELECT 1 FROM sessions WHERE id = ${id} FOR SHARE`
      locked()
      await sleep(60_000, undefined, { signal: thaw.signal })
      await tx.$queryRaw`SELECT 1`
    },
    { maxWait: 5000, timeout: 60_000 }
  )
  const frozenResult = frozen.then(() => 'committed', (err: Error) => err.message)
  await lockHeld

  // The takeover's claim needs that row: it waits for the lock, and gets it once Postgres ends the
  // idle transaction, long before the frozen client would have let go (a minute).
  const claim = claimSessionGeneration(prisma, id, 2n)
  const outcome = await Promise.race([claim.then((ok) => ({ ok })), sleep(30_000, undefined, { signal: thaw.signal }).then(() => ({ ok: 'still blocked after 30 s' }))])
  t.same(outcome, { ok: true }, 'the new owner took the session')
  thaw.abort()
  t.not(await frozenResult, 'committed', 'the frozen transaction did not commit')
  t.equal((await prisma.session.findUniqueOrThrow({ where: { id } })).generation, 2n)
})

t.test('the default keeps a transaction that pauses briefly', async (t) => {
  const id = `s-${randomUUID()}`
  await prisma.session.create({ data: { id, name: 'n', authMethod: 'qrcode', generation: 1n } })
  await prisma.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT 1 FROM sessions WHERE id = ${id} FOR SHARE`
    await sleep(500)
    await tx.session.update({ where: { id }, data: { name: 'renamed' } })
  })
  t.equal((await prisma.session.findUniqueOrThrow({ where: { id } })).name, 'renamed')
})
