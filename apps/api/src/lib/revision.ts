import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** The nearest directory at or above `from` holding a `.git` (a directory, or a worktree's file). */
function checkout (from: string): string | null {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, '.git'))) return dir
    if (dirname(dir) === dir) return null
  }
}

/**
 * The build's git revision: GIT_REVISION when set at build time, else `git rev-parse HEAD` of the
 * checkout the code runs from (read once, at start), else null (a deployed bundle has no .git).
 */
export async function resolveRevision (configured: string | undefined, from = import.meta.dirname): Promise<string | null> {
  if (configured !== undefined) return configured
  const dir = checkout(from)
  if (dir === null) return null
  try {
    const { stdout } = await run('git', ['rev-parse', 'HEAD'], { cwd: dir, timeout: 5000 })
    const revision = stdout.trim()
    return /^[0-9a-f]{40,64}$/.test(revision) ? revision : null
  } catch {
    return null
  }
}
