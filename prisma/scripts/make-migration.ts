// Writes prisma/migrations/<timestamp>_<name>/ from the change between the last
// migration's schema snapshot and schema.prisma (see src/make-migration.ts).
// Usage:
//   pnpm --filter @wss/db make-migration <name>           diff and write
//   pnpm --filter @wss/db make-migration <name> --empty   empty migration.sql to write by hand
//   pnpm --filter @wss/db make-migration --check          exit 1 if schema.prisma has unmigrated changes
// The engine needs a reachable PostgreSQL server (it reads no tables):
// DATABASE_URL, or postgresql://postgres@127.0.0.1:5432/postgres.
import path from 'node:path'
import { hasUnmigratedChanges, makeMigration } from '../src/make-migration.ts'

const args = process.argv.slice(2)
const flags = new Set(args.filter((a) => a.startsWith('--')))
const [name] = args.filter((a) => !a.startsWith('--'))
const connectionString = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

try {
  if (flags.has('--check')) {
    if (await hasUnmigratedChanges({ connectionString })) {
      console.error('schema.prisma has changes that no migration carries: run make-migration <name>')
      process.exit(1)
    }
    console.log('schema.prisma matches the migrations')
  } else {
    if (!name) {
      console.error('usage: make-migration <name> [--empty] | --check')
      process.exit(2)
    }
    const result = await makeMigration({ name, connectionString, empty: flags.has('--empty') })
    if (!result.created) {
      console.log('no changes: schema.prisma matches the last migration')
    } else {
      console.log(`wrote ${path.relative(process.cwd(), result.dir)}/migration.sql`)
      process.stdout.write(result.sql)
    }
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
}
