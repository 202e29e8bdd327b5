// Applies the committed migrations to DATABASE_URL (creating the database if
// needed), like `prisma migrate deploy` but through the WASM schema engine.
// Usage: pnpm db:migrate (DATABASE_URL unset: the same local default as the API and the workers)
import { DatabaseSettingsSchema, loadOrExit, loadSettings } from '@wss/shared/settings'
import { migrate, splitDatabaseUrl } from '../src/migrate.ts'

const { DATABASE_URL: databaseUrl } = loadOrExit(() => loadSettings(DatabaseSettingsSchema, process.env))

try {
  const { database } = splitDatabaseUrl(databaseUrl)
  const result = await migrate(databaseUrl)
  if (result.createdDatabase) console.log(`created database ${database}`)
  for (const name of result.applied) console.log(`applied ${name}`)
  console.log(
    result.applied.length
      ? `${result.applied.length} migration(s) applied to ${database}`
      : `${database} is up to date (${result.total} migration(s))`
  )
} catch (err) {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
}
