import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

// The product on a Redis Cluster of three masters (scripts/redis-cluster.sh, ports of this test's
// own): the whole e2e flow and the failover test, unchanged, with REDIS_URL=redis+cluster://…
const script = fileURLToPath(new URL('../../scripts/redis-cluster.sh', import.meta.url))
const BASE = '7200'
const url = execFileSync('bash', [script, 'start', BASE], { encoding: 'utf8' }).trim()
t.teardown(() => { execFileSync('bash', [script, 'stop', BASE]) })

/** Runs another e2e test file against the cluster; resolves its exit code and output. */
async function runOnCluster (file: string): Promise<{ code: number | null, output: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(file, import.meta.url))], {
    env: { ...process.env, TEST_REDIS_URL: url },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  proc.stdout.on('data', (d: Buffer) => { output += d.toString() })
  proc.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const code = await new Promise<number | null>(resolve => proc.on('exit', resolve))
  return { code, output }
}

t.test('the e2e flow passes on a Redis Cluster', async t => {
  const { code, output } = await runOnCluster('./flow.test.ts')
  t.equal(code, 0, code === 0 ? 'flow.test.ts passed' : output.slice(-6000))
  t.match(output, /^# \{ total: \d+, pass: \d+ \}$|^1\.\.\d+$/m, 'it ran its tests')
})

t.test('the failover test passes on a Redis Cluster', async t => {
  const { code, output } = await runOnCluster('./cluster.test.ts')
  t.equal(code, 0, code === 0 ? 'cluster.test.ts passed' : output.slice(-6000))
  t.match(output, /^1\.\.\d+$/m, 'it ran its tests')
})
