// `pnpm build`: compiles each deployable to plain JavaScript, so production runs `node dist/…`, never tsx.
//
// Each entry point is bundled with esbuild: the workspace packages it imports (@wss/shared, @wss/db
// with its generated Prisma client) are compiled into the bundle; every other package stays an
// import, resolved at run time from the app's own node_modules. So an app's `dependencies` must
// list every package its bundle imports — the build fails naming any that is missing, because
// `pnpm deploy --prod` installs exactly those. The simulator (@wss/wa-sim) and the benchmarks are
// never imported by these entry points and stay out of every bundle (also checked).
import { builtinModules } from 'node:module'
import { readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { build } from 'esbuild'

const root = path.resolve(import.meta.dirname, '..')

/** What is deployed, and from which package: the API node, the worker pool and the migrator. */
export const targets = {
  api: { dir: 'apps/api', entries: ['src/server.ts'] },
  worker: { dir: 'apps/worker', entries: ['src/main.ts', 'src/worker-process.ts'] },
  migrator: { dir: 'prisma', entries: ['scripts/migrate.ts'] }
}

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]))

/** `@scope/name/sub/path` → `@scope/name`; `name/sub` → `name`. */
function packageName (specifier) {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
}

/** Keeps workspace packages in the bundle, every other bare import outside. */
function externals () {
  return {
    name: 'externals',
    setup (b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (builtins.has(args.path)) return { path: args.path, external: true }
        const name = packageName(args.path)
        if (name === '@wss/wa-sim') return { errors: [{ text: `${args.importer} imports the simulator, which must stay out of production bundles` }] }
        if (name.startsWith('@wss/')) return undefined
        return { path: args.path, external: true }
      })
    }
  }
}

export async function buildTarget (name) {
  const target = targets[name]
  const dir = path.join(root, target.dir)
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'))
  rmSync(path.join(dir, 'dist'), { recursive: true, force: true })
  const { metafile } = await build({
    absWorkingDir: dir,
    entryPoints: target.entries,
    outdir: 'dist',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20.19',
    sourcemap: true,
    logLevel: 'warning',
    metafile: true,
    plugins: [externals()]
  })
  // What the bundles still import once unused code is dropped: packages, not node's own modules.
  const imported = new Set(Object.values(metafile.outputs).flatMap((out) => out.imports)
    .filter((i) => i.external && !builtins.has(i.path)).map((i) => packageName(i.path)))
  const missing = [...imported].filter((p) => !pkg.dependencies?.[p]).sort()
  if (missing.length) throw new Error(`${pkg.name}: its bundle imports ${missing.join(', ')}, missing from its "dependencies"`)
  return { name: pkg.name, imports: [...imported].sort() }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(targets)
  try {
    for (const name of names) {
      if (!targets[name]) throw new Error(`unknown target ${name} (one of ${Object.keys(targets).join(', ')})`)
      const built = await buildTarget(name)
      console.log(`built ${built.name} → ${targets[name].dir}/dist (imports ${built.imports.length} packages)`)
    }
  } catch (err) {
    console.error(err.message)
    process.exit(1)
  }
}
