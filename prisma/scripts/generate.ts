// `prisma generate`, offline: the CLI would try to download the native schema
// engine, which generate does not need (/bin/false stands in for it), and
// would phone home for update checks (CHECKPOINT_DISABLE). Runs on install.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'

const packageDir = path.resolve(import.meta.dirname, '..')
const require = createRequire(import.meta.url)
const cli = path.join(path.dirname(require.resolve('prisma/package.json')), 'build', 'index.js')

const result = spawnSync(process.execPath, [cli, 'generate'], {
  cwd: packageDir,
  stdio: 'inherit',
  env: {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? '/bin/false',
    CHECKPOINT_DISABLE: '1',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
  },
})
process.exit(result.status ?? 1)
