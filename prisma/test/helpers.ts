import { randomUUID } from 'node:crypto'
import { dropDatabase, migrate } from '../src/migrate.ts'
import { createPrisma } from '../src/client.ts'
import type { PrismaClient } from '../generated/client.ts'

interface Teardown {
  teardown(fn: () => unknown): void
}

const serverUrl = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

/** URL of a database that does not exist yet, unique to this call; dropped at teardown. */
export function freshDatabaseUrl (t: Teardown): string {
  const url = new URL(serverUrl)
  url.pathname = `/wss_db_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`
  const databaseUrl = url.toString()
  t.teardown(() => dropDatabase(databaseUrl))
  return databaseUrl
}

/** A migrated fresh database and a client on it, both cleaned up at teardown. */
export async function migratedPrisma (t: Teardown): Promise<{ prisma: PrismaClient; databaseUrl: string }> {
  const databaseUrl = freshDatabaseUrl(t)
  await migrate(databaseUrl)
  const prisma = createPrisma(databaseUrl, { poolSize: 4 })
  // dropDatabase uses WITH (FORCE): the order of the two teardowns does not matter.
  t.teardown(() => prisma.$disconnect())
  return { prisma, databaseUrl }
}
