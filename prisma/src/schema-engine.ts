// Prisma's schema engine compiled to WebAssembly, driven through
// @prisma/adapter-pg. The native engine binary cannot be downloaded on these
// machines, so `prisma migrate` is unusable; this internal API does the two
// things we need (diff two schemas into SQL, apply committed migrations) and
// writes `_prisma_migrations` exactly as the native CLI does. The committed SQL
// stays the source of truth: a plain SQL runner could replace this module.
import { readFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils'
import type {
  MigrationDirectory,
  MigrationList,
  SchemaEngine,
  SchemaFilter,
} from '@prisma/schema-engine-wasm/schema_engine_bg'

type Glue = typeof import('@prisma/schema-engine-wasm/schema_engine_bg')

// The ES libs this workspace compiles against do not declare WebAssembly.
interface WasmApi {
  compile(bytes: Uint8Array): Promise<object>
  instantiate(module: object, imports: Record<string, object>): Promise<{ exports: Record<string, unknown> }>
}
const wasmApi = (): WasmApi => (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly

export const MIGRATION_LOCK_FILE = 'migration_lock.toml'
export const MIGRATION_FILE = 'migration.sql'
export const NO_FILTERS: SchemaFilter = { externalTables: [], externalEnums: [] }

/** Absolute path of this package's root (holds schema.prisma and migrations/). */
export const packageDir = path.resolve(import.meta.dirname, '..')
export const defaultSchemaPath = path.join(packageDir, 'schema.prisma')
export const defaultMigrationsDir = path.join(packageDir, 'migrations')

let gluePromise: Promise<Glue> | undefined

// The engine arms timers (e.g. the 10 s advisory-lock timeout) that it never
// clears, each keeping the process alive for its full delay after the work is
// done. They are tracked here and cleared once no engine is open.
const engineTimers = new Set<ReturnType<typeof setTimeout>>()
let openEngines = 0

// The wasm-bindgen glue keeps the instance in module state, so it is
// instantiated once per process, on first use (never at import time).
function loadGlue (): Promise<Glue> {
  gluePromise ??= (async () => {
    const glue = await import('@prisma/schema-engine-wasm/schema_engine_bg')
    const require = createRequire(import.meta.url)
    const gluePath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg')
    const bytes = readFileSync(path.join(path.dirname(gluePath), 'schema_engine_bg.wasm'))
    const imports: Record<string, unknown> = { ...glue }
    for (const name of Object.keys(imports).filter((n) => n.startsWith('__wbg_setTimeout_'))) {
      imports[name] = (callback: () => void, ms: number) => {
        const timer = setTimeout(() => {
          engineTimers.delete(timer)
          callback()
        }, ms >>> 0)
        engineTimers.add(timer)
        return timer
      }
    }
    const module = await wasmApi().compile(bytes)
    const instance = await wasmApi().instantiate(module, { './schema_engine_bg.js': imports })
    const exports = instance.exports as unknown as { __wbindgen_start(): void }
    ;(glue as unknown as { __wbg_set_wasm(w: unknown): void }).__wbg_set_wasm(instance.exports)
    exports.__wbindgen_start()
    return glue
  })()
  gluePromise.catch(() => {
    gluePromise = undefined
  })
  return gluePromise
}

export interface OpenEngineOptions {
  /** Database the engine connects to. */
  connectionString: string
  /** Schema files to hand the engine; not needed to apply migrations. */
  datamodels?: Array<[path: string, content: string]>
  /** Receives the engine's JSON log lines. */
  log?: (line: string) => void
}

export interface SchemaEngineHandle {
  engine: SchemaEngine
  /** Frees the engine and closes its connections. */
  close(): Promise<void>
}

/**
 * Starts a schema engine on its own pg pool. Always `close()` it: the engine
 * does not close its connections when freed, and the one that ran
 * `applyMigrations` keeps holding Prisma's migration advisory lock until its
 * connection closes, which would stall every other migrator.
 */
export async function openSchemaEngine (opts: OpenEngineOptions): Promise<SchemaEngineHandle> {
  const glue = await loadGlue()
  const pool = new pg.Pool({ connectionString: opts.connectionString, max: 2 })
  pool.on('error', () => {})
  const adapter = bindMigrationAwareSqlAdapterFactory(new PrismaPg(pool))
  openEngines++
  const release = async () => {
    try {
      await pool.end()
    } finally {
      if (--openEngines === 0) {
        for (const timer of engineTimers) clearTimeout(timer)
        engineTimers.clear()
      }
    }
  }
  let engine: SchemaEngine
  try {
    engine = await glue.SchemaEngine.new({ datamodels: opts.datamodels }, opts.log ?? (() => {}), adapter)
  } catch (err) {
    await release()
    throw err
  }
  let closed = false
  return {
    engine,
    async close () {
      if (closed) return
      closed = true
      try {
        engine.free()
      } finally {
        await release()
      }
    },
  }
}

const LOCKFILE_CONTENT = `# Please do not edit this file manually
# It should be added in your version-control system (e.g., Git)
provider = "postgresql"
`

export function defaultLockfileContent (): string {
  return LOCKFILE_CONTENT
}

/**
 * Reads the committed migrations as the engine expects them: directories
 * sorted by name, each with its migration.sql read verbatim (the checksum in
 * `_prisma_migrations` is computed over these bytes).
 */
export async function readMigrationList (migrationsDir = defaultMigrationsDir): Promise<MigrationList> {
  const baseDir = path.resolve(migrationsDir)
  let entries: import('node:fs').Dirent[]
  try {
    entries = await readdir(baseDir, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') entries = []
    else throw err
  }
  const dirs = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
  const migrationDirectories: MigrationDirectory[] = []
  for (const dir of dirs) {
    let sql: string
    try {
      sql = await readFile(path.join(baseDir, dir, MIGRATION_FILE), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw err
    }
    migrationDirectories.push({
      path: dir,
      migrationFile: { path: MIGRATION_FILE, content: { tag: 'ok', value: sql } },
    })
  }
  let lockContent: string | null = null
  try {
    lockContent = await readFile(path.join(baseDir, MIGRATION_LOCK_FILE), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  return {
    baseDir,
    lockfile: { path: MIGRATION_LOCK_FILE, content: lockContent },
    shadowDbInitScript: '',
    migrationDirectories,
  }
}
