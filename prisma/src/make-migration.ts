// Writes a new migration from the difference between the schema as of the
// last committed migration and the current schema.prisma.
//
// Where "the schema as of the last migration" comes from: every migration
// directory carries `schema.prisma.snapshot`, the schema it brings the
// database to. Diffing two datamodels needs no shadow database. (Replaying the
// migrations into a temporary database and diffing from it, as `prisma migrate
// dev` does, fails here: describing a live database through @prisma/adapter-pg
// hits the `"char"` catalog type, which the adapter cannot map.) Prisma's
// tools read only migration.sql, so the snapshot changes no checksum.
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { DiffTarget } from '@prisma/schema-engine-wasm/schema_engine_bg'
import {
  MIGRATION_FILE,
  MIGRATION_LOCK_FILE,
  NO_FILTERS,
  defaultLockfileContent,
  defaultMigrationsDir,
  defaultSchemaPath,
  openSchemaEngine,
  readMigrationList,
} from './schema-engine.ts'

export const SNAPSHOT_FILE = 'schema.prisma.snapshot'

export interface MakeMigrationOptions {
  /** Migration name; reduced to [a-z0-9_]. */
  name: string
  /** Any reachable database: the engine connects at start, the diff itself reads no tables. */
  connectionString: string
  schemaPath?: string
  migrationsDir?: string
  /** Write an empty migration.sql to fill in by hand (its snapshot is the current schema). */
  empty?: boolean
  /** Clock for the directory's timestamp. */
  now?: Date
}

export type MakeMigrationResult =
  | { created: true; dir: string; sql: string }
  | { created: false; reason: 'no-changes' }

export async function makeMigration (opts: MakeMigrationOptions): Promise<MakeMigrationResult> {
  const schemaPath = opts.schemaPath ?? defaultSchemaPath
  const migrationsDir = path.resolve(opts.migrationsDir ?? defaultMigrationsDir)
  const name = slug(opts.name)
  if (!name) throw new Error('a migration needs a name, e.g. `add_upload_hash`')

  const schema = await readFile(schemaPath, 'utf8')
  let sql: string
  if (opts.empty) {
    sql = '-- Write this migration by hand.\n'
  } else {
    const from = await lastSnapshot(migrationsDir)
    const { engine, close } = await openSchemaEngine({ connectionString: opts.connectionString })
    try {
      const to: DiffTarget = { tag: 'schemaDatamodel', files: [{ path: schemaPath, content: schema }] }
      const summary = await engine.diff({ from, to, script: false, exitCode: true, filters: NO_FILTERS })
      // With exitCode requested the engine answers 2 when the schemas differ.
      if (summary.exitCode !== 2) return { created: false, reason: 'no-changes' }
      const script = await engine.diff({ from, to, script: true, exitCode: null, filters: NO_FILTERS })
      sql = script.stdout ?? ''
    } finally {
      await close()
    }
  }

  const dir = path.join(migrationsDir, `${timestamp(opts.now ?? new Date())}_${name}`)
  await mkdir(dir, { recursive: true })
  await writeFile(path.join(dir, MIGRATION_FILE), sql)
  await copyFile(schemaPath, path.join(dir, SNAPSHOT_FILE))
  const lockPath = path.join(migrationsDir, MIGRATION_LOCK_FILE)
  await writeFile(lockPath, defaultLockfileContent(), { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err
  })
  return { created: true, dir, sql }
}

/**
 * Whether schema.prisma has changes that no committed migration carries yet
 * (a CI check: the schema and the migrations must not drift apart).
 */
export async function hasUnmigratedChanges (opts: {
  connectionString: string
  schemaPath?: string
  migrationsDir?: string
}): Promise<boolean> {
  const schemaPath = opts.schemaPath ?? defaultSchemaPath
  const schema = await readFile(schemaPath, 'utf8')
  const from = await lastSnapshot(path.resolve(opts.migrationsDir ?? defaultMigrationsDir))
  const { engine, close } = await openSchemaEngine({ connectionString: opts.connectionString })
  try {
    const to: DiffTarget = { tag: 'schemaDatamodel', files: [{ path: schemaPath, content: schema }] }
    const summary = await engine.diff({ from, to, script: false, exitCode: true, filters: NO_FILTERS })
    return summary.exitCode === 2
  } finally {
    await close()
  }
}

async function lastSnapshot (migrationsDir: string): Promise<DiffTarget> {
  const { migrationDirectories } = await readMigrationList(migrationsDir)
  const last = migrationDirectories.at(-1)
  if (!last) return { tag: 'empty' }
  const snapshotPath = path.join(migrationsDir, last.path, SNAPSHOT_FILE)
  try {
    return { tag: 'schemaDatamodel', files: [{ path: snapshotPath, content: await readFile(snapshotPath, 'utf8') }] }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    throw new Error(
      `${last.path} has no ${SNAPSHOT_FILE}: copy into it the schema.prisma that its migration.sql produces`
    )
  }
}

function slug (name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
}

/** UTC yyyyMMddHHmmss, the prefix the Prisma CLI uses. */
function timestamp (d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return (
    `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`
  )
}
