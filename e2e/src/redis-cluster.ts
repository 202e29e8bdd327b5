import { execFileSync, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

interface Teardown { teardown (fn: () => unknown): void }

const script = fileURLToPath(new URL('../../scripts/redis-cluster.sh', import.meta.url))

/**
 * Starts a local Redis Cluster of three masters on ports base+1..base+3 (scripts/redis-cluster.sh),
 * stopped at teardown; resolves its `redis+cluster://` URL. Each test file uses a base of its own.
 */
export function startRedisCluster (t: Teardown, base: number): string {
  const url = execFileSync('bash', [script, 'start', String(base)], { encoding: 'utf8' }).trim()
  t.teardown(() => { execFileSync('bash', [script, 'stop', String(base)]) })
  return url
}

/** Runs another e2e test file, unchanged, with TEST_REDIS_URL=url; resolves its exit code and output. */
export async function runTestFileOn (url: string, file: URL): Promise<{ code: number | null, output: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(file)], {
    env: { ...process.env, TEST_REDIS_URL: url },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  proc.stdout.on('data', (d: Buffer) => { output += d.toString() })
  proc.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const code = await new Promise<number | null>(resolve => proc.on('exit', resolve))
  return { code, output }
}
