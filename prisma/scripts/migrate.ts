// Applies the committed migrations to DATABASE_URL (creating the database if
// needed), like `prisma migrate deploy` but through the WASM schema engine.
// Usage: DATABASE_URL=postgresql://... pnpm db:migrate
import { migrate } from '../src/migrate.ts'
import { splitDatabaseUrl } from '../src/migrate.ts'

const databaseUrl = process.env.DATABASE_URL
if (!databaseUrl) {
  console.error('DATABASE_URL is not set')
  process.exit(1)
}

try {
  const { database } = splitDatabaseUrl(databaseUrl)
  const result = await migrate(databaseUrl)
  if (result.createdDatabase) console.log(`created database ${database}`)
  for (const name of result.applied) console.log(`applied ${name}`)
  console.log(
    result.applied.length
      ? `${result.applied.length} migration(s) applied to ${database}`
      : `${database} is up to date (${result.total} migration(s))`,
  )
} catch (err) {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
}
