import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

// The shared rate limit on a Redis Cluster of three masters (scripts/redis-cluster.sh, ports of
// this test's own): rate-limit.test.ts, unchanged, with TEST_REDIS_URL=redis+cluster://…
const script = fileURLToPath(new URL('../../../../../scripts/redis-cluster.sh', import.meta.url))
const BASE = '7300'
const url = execFileSync('bash', [script, 'start', BASE], { encoding: 'utf8' }).trim()
t.teardown(() => { execFileSync('bash', [script, 'stop', BASE]) })

t.test('the rate-limit tests pass on a Redis Cluster', async t => {
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./rate-limit.test.ts', import.meta.url))], {
    env: { ...process.env, TEST_REDIS_URL: url },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  proc.stdout.on('data', (d: Buffer) => { output += d.toString() })
  proc.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const code = await new Promise<number | null>(resolve => proc.on('exit', resolve))
  t.equal(code, 0, code === 0 ? 'rate-limit.test.ts passed' : output.slice(-6000))
  t.match(output, /^1\.\.\d+$/m, 'it ran its tests')
})
