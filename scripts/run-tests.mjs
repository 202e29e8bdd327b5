// Runs typecheck and every package's tests through turbo (cache off), then prints one summary line.
import { spawn, spawnSync } from 'node:child_process'

const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', FORCE_COLOR: '0', NO_COLOR: '1' }

function run (args) {
  return new Promise(resolve => {
    const child = spawn('pnpm', ['exec', 'turbo', ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', chunk => { out += chunk; process.stdout.write(chunk) })
    child.on('close', code => resolve({ code, out }))
  })
}

// The browser test drives Debian's Chromium: installed here as docker-compose is below, never downloaded by a test.
spawnSync('bash', ['scripts/ensure-chromium.sh'], { stdio: 'inherit' })

const typecheck = await run(['run', 'typecheck', '--force', '--continue', '--concurrency=2', '--output-logs=errors-only'])
const tests = await run(['run', 'test', '--force', '--continue', '--concurrency=1', '--output-logs=full'])

// docker-compose.yml must stay valid (Debian's docker-compose validates it offline).
const compose = spawnSync('bash', ['-c', 'command -v docker-compose >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose) >/dev/null 2>&1; API_KEY=ci docker-compose -f docker-compose.yml config -q'], { stdio: 'inherit' })
console.log(compose.status === 0 ? 'ok - docker-compose.yml is valid' : 'not ok - docker-compose.yml is invalid')

let passed = 0, failed = 0, skipped = 0
const seen = new Set()
// tap ends each package's run with "# { total: N, pass: N, fail: N, skip: N, ... }"
for (const line of tests.out.split('\n')) {
  const m = /^(\S+?):test: # \{ (total: .*) \}\s*$/.exec(line)
  if (!m) continue
  seen.add(m[1])
  const counts = Object.fromEntries(m[2].split(', ').map(kv => { const [k, v] = kv.split(': '); return [k, Number(v)] }))
  passed += counts.pass ?? 0
  failed += counts.fail ?? 0
  skipped += (counts.skip ?? 0) + (counts.todo ?? 0)
}
if (compose.status === 0) passed += 1
else failed += 1
if (tests.code !== 0 && failed === 0) failed += 1 // a package crashed before tap could count
if (typecheck.code !== 0) {
  console.error('typecheck failed')
  failed += 1
}
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(tests.code === 0 && typecheck.code === 0 && failed === 0 ? 0 : 1)
