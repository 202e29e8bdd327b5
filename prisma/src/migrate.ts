import pg from 'pg'
import { NO_FILTERS, defaultMigrationsDir, openSchemaEngine, readMigrationList } from './schema-engine.ts'

export interface MigrateOptions {
  /** Directory holding `<timestamp>_<name>/migration.sql`; defaults to this package's. */
  migrationsDir?: string
  /** Create the database when it does not exist (default true). */
  createDatabase?: boolean
  /** Receives the schema engine's JSON log lines. */
  log?: (line: string) => void
}

export interface MigrateResult {
  /** Whether the database had to be created first. */
  createdDatabase: boolean
  /** Migrations applied by this call, oldest first; empty when already up to date. */
  applied: string[]
  /** All committed migrations, applied before or now. */
  total: number
}

/**
 * Applies the committed SQL migrations that `_prisma_migrations` does not list
 * yet, exactly like `prisma migrate deploy`, and creates the database first if
 * needed. Idempotent and safe to run from several processes at once (the
 * engine serialises on Prisma's advisory lock).
 */
export async function migrate (databaseUrl: string, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const createdDatabase = opts.createDatabase === false ? false : await ensureDatabase(databaseUrl)
  const migrationsList = await readMigrationList(opts.migrationsDir ?? defaultMigrationsDir)
  const { engine, close } = await openSchemaEngine({ connectionString: databaseUrl, log: opts.log })
  try {
    const { appliedMigrationNames } = await engine.applyMigrations({ migrationsList, filters: NO_FILTERS })
    return {
      createdDatabase,
      applied: appliedMigrationNames,
      total: migrationsList.migrationDirectories.length,
    }
  } finally {
    await close()
  }
}

/**
 * Creates the database named in `databaseUrl` when missing, connecting to the
 * server's `postgres` database to do so. Returns true when it created it.
 */
export async function ensureDatabase (databaseUrl: string): Promise<boolean> {
  const { database, adminUrl } = splitDatabaseUrl(databaseUrl)
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])
    if (found.rowCount) return false
    try {
      await admin.query(`CREATE DATABASE ${quoteIdent(database)}`)
      return true
    } catch (err) {
      // Another process created it between our check and our CREATE.
      const code = (err as { code?: string }).code
      if (code === '42P04' || code === '23505') return false
      throw err
    }
  } finally {
    await admin.end()
  }
}

/** Drops the database named in `databaseUrl` (for tests); no error when it is missing. */
export async function dropDatabase (databaseUrl: string): Promise<void> {
  const { database, adminUrl } = splitDatabaseUrl(databaseUrl)
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`)
  } finally {
    await admin.end()
  }
}

/** The database name in a postgres URL, and the same URL pointed at the `postgres` database. */
export function splitDatabaseUrl (databaseUrl: string): { database: string; adminUrl: string } {
  const url = new URL(databaseUrl)
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''))
  if (!database) throw new Error('DATABASE_URL names no database')
  url.pathname = '/postgres'
  // Prisma's own `schema` parameter means nothing to pg.
  url.searchParams.delete('schema')
  return { database, adminUrl: url.toString() }
}

function quoteIdent (name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}
