// Runs typecheck, lint and every package's tests through turbo (cache off), then prints the counts: a
// line "assertions: N passed, N failed", and last, alone, "N passed, N failed[, N skipped]" counting
// tests (each test file's top-level subtests, plus the lint and docker-compose checks).
import { spawn, spawnSync } from 'node:child_process'
import { summarize } from './tap-summary.mjs'

const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', FORCE_COLOR: '0', NO_COLOR: '1' }

function run (args) {
  return new Promise(resolve => {
    const child = spawn('pnpm', ['exec', 'turbo', ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', chunk => { out += chunk; process.stdout.write(chunk) })
    child.on('close', code => resolve({ code, out }))
  })
}

// The packages that have tests: each must end its run with a tap summary.
function testedPackages () {
  const dry = spawnSync('pnpm', ['exec', 'turbo', 'run', 'test', '--dry=json'], { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (dry.status !== 0) return []
  return JSON.parse(dry.stdout).tasks.filter(task => task.command !== '<NONEXISTENT>').map(task => task.package)
}

const typecheck = await run(['run', 'typecheck', '--force', '--continue', '--concurrency=2', '--output-logs=errors-only'])
// ESLint over the whole repository (eslint.config.js); warnings do not fail it, an error does.
const lint = spawnSync('pnpm', ['run', '--silent', 'lint'], { env, stdio: 'inherit' })
console.log(lint.status === 0 ? 'ok - lint' : 'not ok - lint')
const tests = await run(['run', 'test', '--force', '--continue', '--concurrency=1', '--output-logs=full'])

// docker-compose.yml must stay valid (Debian's docker-compose validates it offline).
const compose = spawnSync('bash', ['-c', 'command -v docker-compose >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose) >/dev/null 2>&1; API_KEY=ci docker-compose -f docker-compose.yml config -q'], { stdio: 'inherit' })
console.log(compose.status === 0 ? 'ok - docker-compose.yml is valid' : 'not ok - docker-compose.yml is invalid')

const { tests: counted, assertions, missing, failedFiles } = summarize(tests.out, testedPackages())
let { passed, failed, skipped } = counted
for (const file of failedFiles) console.error(`not ok - ${file}`)
for (const pkg of missing) console.error(`not ok - ${pkg}: no tap summary (it crashed before reporting)`)
failed += missing.length
for (const check of [lint, compose]) {
  if (check.status === 0) passed += 1
  else failed += 1
}
if (tests.code !== 0 && failed === 0) failed += 1 // a failure tap did not count
if (typecheck.code !== 0) {
  console.error('not ok - typecheck')
  failed += 1
}
console.log(`\nassertions: ${assertions.passed} passed, ${assertions.failed} failed`)
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(tests.code === 0 && typecheck.code === 0 && lint.status === 0 && failed === 0 ? 0 : 1)
