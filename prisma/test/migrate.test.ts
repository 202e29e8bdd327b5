import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import pg from 'pg'
import t from 'tap'
import { migrate } from '../src/migrate.ts'
import { defaultMigrationsDir, readMigrationList } from '../src/schema-engine.ts'
import { hasUnmigratedChanges } from '../src/make-migration.ts'
import { freshDatabaseUrl } from './helpers.ts'

async function query<R extends pg.QueryResultRow> (databaseUrl: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    return (await client.query<R>(sql)).rows
  } finally {
    await client.end()
  }
}

t.test('migrate creates the database and applies every committed migration', async (t) => {
  const databaseUrl = freshDatabaseUrl(t)
  const { migrationDirectories } = await readMigrationList()
  t.ok(migrationDirectories.length >= 1, 'there are committed migrations')

  const result = await migrate(databaseUrl)
  t.equal(result.createdDatabase, true)
  t.same(result.applied, migrationDirectories.map((m) => m.path))

  const tables = await query<{ tablename: string }>(
    databaseUrl,
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
  )
  t.same(tables.map((r) => r.tablename), [
    '_prisma_migrations',
    'analytics_buckets',
    'analytics_rollup_runs',
    'analytics_viewer_buckets',
    'analytics_viewers',
    'api_keys',
    'audience_lists',
    'auth_creds',
    'auth_keys',
    'contacts',
    'sessions',
    'status_viewers',
    'statuses',
    'uploads',
    'webhook_deliveries',
    'webhook_endpoints',
  ])

  // The rows `prisma migrate deploy` would write: checksum = sha256 of the file.
  const rows = await query<{ migration_name: string; checksum: string; finished: boolean; steps: number; rolled: boolean }>(
    databaseUrl,
    `SELECT migration_name, checksum, finished_at IS NOT NULL AS finished,
            applied_steps_count AS steps, rolled_back_at IS NOT NULL AS rolled
       FROM _prisma_migrations ORDER BY migration_name`
  )
  t.equal(rows.length, migrationDirectories.length)
  for (const row of rows) {
    const sql = await readFile(path.join(defaultMigrationsDir, row.migration_name, 'migration.sql'))
    t.equal(row.checksum, createHash('sha256').update(sql).digest('hex'), `${row.migration_name} checksum`)
    t.ok(row.finished, `${row.migration_name} finished`)
    t.equal(row.steps, 1)
    t.notOk(row.rolled)
  }
})

t.test('migrating twice is a no-op', async (t) => {
  const databaseUrl = freshDatabaseUrl(t)
  await migrate(databaseUrl)
  const before = await query(databaseUrl, 'SELECT id, finished_at FROM _prisma_migrations ORDER BY id')

  const again = await migrate(databaseUrl)
  t.equal(again.createdDatabase, false)
  t.same(again.applied, [])
  t.same(await query(databaseUrl, 'SELECT id, finished_at FROM _prisma_migrations ORDER BY id'), before)
})

t.test('two processes migrating the same new database at once both succeed, once', async (t) => {
  const databaseUrl = freshDatabaseUrl(t)
  const results = await Promise.all([migrate(databaseUrl), migrate(databaseUrl)])
  const { migrationDirectories } = await readMigrationList()
  t.same(results.flatMap((r) => r.applied).sort(), migrationDirectories.map((m) => m.path).sort())
  const [{ n }] = await query<{ n: number }>(databaseUrl, 'SELECT count(*)::int AS n FROM _prisma_migrations')
  t.equal(n, migrationDirectories.length)
})

t.test('schema.prisma has no changes missing from the committed migrations', async (t) => {
  const connectionString = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'
  t.equal(await hasUnmigratedChanges({ connectionString }), false, 'run `pnpm --filter @wss/db make-migration <name>`')
})
