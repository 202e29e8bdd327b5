// Which database errors the API answers 503 (the database cannot serve us now, retry) rather than
// 500: checked on real errors from a real PostgreSQL.
import t from 'tap'
import { isDatabaseUnavailableError } from '../../src/lib/db-errors.ts'
import { eventually, testDatabase } from '../helper.ts'

t.test('a query whose connection an administrator terminates means "unavailable"; a query the database rejects does not', async t => {
  const { prisma } = await testDatabase(t)
  const marker = `wss_terminate_${process.pid}`
  const others = `from pg_stat_activity where query like '%${marker}%' and query not like '%pg_stat_activity%'`
  const sleeping = prisma.$queryRawUnsafe(`select pg_sleep(30) as ${marker}`).then(() => null, (err: unknown) => err)
  t.ok(await eventually(async () => (await prisma.$queryRawUnsafe<Array<{ n: number }>>(`select count(*)::int as n ${others}`))[0]!.n === 1, 10_000, 50), 'the query runs')
  await prisma.$queryRawUnsafe(`select pg_terminate_backend(pid) ${others}`)
  const terminated = await sleeping
  t.ok(terminated instanceof Error, 'the query failed')
  t.equal(isDatabaseUnavailableError(terminated), true, `terminated by an administrator (57P01): ${(terminated as Error).message.trim().split('\n').at(-1)}`)
  const rejected = await prisma.$queryRawUnsafe('select * from no_such_table_here').then(() => null, (err: unknown) => err)
  t.ok(rejected instanceof Error)
  t.equal(isDatabaseUnavailableError(rejected), false, 'an unknown table is the query\'s fault')
  t.equal((await prisma.$queryRawUnsafe<Array<{ ok: number }>>('select 1 as ok'))[0]!.ok, 1, 'the pool serves again')
})
