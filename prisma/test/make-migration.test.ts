import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import t, { type Test } from 'tap'
import { SNAPSHOT_FILE, hasUnmigratedChanges, makeMigration } from '../src/make-migration.ts'
import { migrate } from '../src/migrate.ts'
import { defaultMigrationsDir, defaultSchemaPath } from '../src/schema-engine.ts'
import { freshDatabaseUrl } from './helpers.ts'

const connectionString = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

/** A copy of the committed migrations and schema to change freely. */
async function workspace (t: Test) {
  const dir = await mkdtemp(path.join(tmpdir(), 'wss-db-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const migrationsDir = path.join(dir, 'migrations')
  const schemaPath = path.join(dir, 'schema.prisma')
  await cp(defaultMigrationsDir, migrationsDir, { recursive: true })
  await cp(defaultSchemaPath, schemaPath)
  return { migrationsDir, schemaPath }
}

t.test('a schema change becomes a new migration that applies on top of the old ones', async (t) => {
  const { migrationsDir, schemaPath } = await workspace(t)
  const databaseUrl = freshDatabaseUrl(t)
  await migrate(databaseUrl, { migrationsDir })

  const schema = await readFile(schemaPath, 'utf8')
  await writeFile(schemaPath, schema.replace('  sha256     String\n', '  sha256     String\n  width      Int?\n'))
  t.equal(await hasUnmigratedChanges({ connectionString, schemaPath, migrationsDir }), true)

  const result = await makeMigration({
    name: 'Add upload width',
    connectionString,
    schemaPath,
    migrationsDir,
    now: new Date('2099-01-02T03:04:05Z'),
  })
  if (!result.created) throw new Error('expected a migration')
  t.equal(path.basename(result.dir), '20990102030405_add_upload_width')
  t.match(result.sql, /ALTER TABLE "uploads" ADD COLUMN\s+"width" INTEGER/)
  t.equal(await readFile(path.join(result.dir, SNAPSHOT_FILE), 'utf8'), await readFile(schemaPath, 'utf8'))
  t.equal(await hasUnmigratedChanges({ connectionString, schemaPath, migrationsDir }), false)

  const applied = await migrate(databaseUrl, { migrationsDir })
  t.same(applied.applied, ['20990102030405_add_upload_width'])
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  t.teardown(() => client.end())
  const cols = await client.query("SELECT 1 FROM information_schema.columns WHERE table_name = 'uploads' AND column_name = 'width'")
  t.equal(cols.rowCount, 1)
})

t.test('no change writes nothing', async (t) => {
  const { migrationsDir, schemaPath } = await workspace(t)
  const before = await readdir(migrationsDir)
  t.same(await makeMigration({ name: 'noop', connectionString, schemaPath, migrationsDir }), {
    created: false,
    reason: 'no-changes',
  })
  t.same(await readdir(migrationsDir), before)
})

t.test('the first migration is diffed from an empty database', async (t) => {
  const { schemaPath } = await workspace(t)
  const migrationsDir = path.join(path.dirname(schemaPath), 'fresh')
  const result = await makeMigration({ name: 'init', connectionString, schemaPath, migrationsDir })
  if (!result.created) throw new Error('expected a migration')
  t.match(result.sql, /CREATE TABLE "sessions"/)
  t.match(await readFile(path.join(migrationsDir, 'migration_lock.toml'), 'utf8'), /provider = "postgresql"/)
})

t.test('a last migration without a snapshot is reported, not guessed', async (t) => {
  const { migrationsDir, schemaPath } = await workspace(t)
  const [last] = (await readdir(migrationsDir)).filter((d) => /^\d/.test(d)).sort().reverse()
  await rm(path.join(migrationsDir, last!, SNAPSHOT_FILE))
  await t.rejects(makeMigration({ name: 'x', connectionString, schemaPath, migrationsDir }), /has no schema\.prisma\.snapshot/)
})
