// The watchdog (src/watchdog.ts): a worker process whose event loop freezes is killed, so that the
// pool starts a new one; a busy but live process is left alone.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const watchdogPath = fileURLToPath(new URL('../src/watchdog.ts', import.meta.url))

interface Outcome { code: number | null, signal: string | null, stderr: string, stdout: string }

/** Runs `body` in a fresh process after `startWatchdog(timeoutMs)`, armed unless `startTimeoutMs` is given. */
function run (timeoutMs: number, body: string, startTimeoutMs?: number): Promise<Outcome> {
  const script = `
    const { startWatchdog } = await import(${JSON.stringify(watchdogPath)})
    const watchdog = startWatchdog(${timeoutMs}, 'w-test', undefined, ${startTimeoutMs ?? 'undefined'})
    ${startTimeoutMs === undefined ? 'watchdog.arm()' : ''}
    ${body}`
  return new Promise(resolve => {
    const child = execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 30_000, killSignal: 'SIGKILL' },
      (_err, stdout, stderr) => resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr }))
  })
}

// Blocks the event loop as a native deadlock does: the thread sleeps on a futex nobody wakes.
const freeze = (ms: number | 'forever') => `Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0${ms === 'forever' ? '' : `, ${ms}`})`

t.test('a frozen event loop gets the process killed, with a log line saying why', async t => {
  const started = Date.now()
  const out = await run(2500, `console.log('frozen'); ${freeze('forever')}`)
  t.equal(out.signal, 'SIGKILL', 'killed')
  t.ok(Date.now() - started < 25_000, 'by the watchdog, not by the test\'s own limit')
  const line = JSON.parse(out.stderr.trim().split('\n').at(-1)!)
  t.match(line, { level: 60, workerId: 'w-test', msg: /event loop frozen/ })
  t.ok(line.silentMs >= 2500, 'after the loop was silent for the timeout')
})

t.test('a live process is left alone, and it can still exit by itself', async t => {
  // Busy in stretches much shorter than the timeout, for over twice the timeout, then done.
  const out = await run(2500, `
    const until = Date.now() + 6000
    while (Date.now() < until) { const s = Date.now(); while (Date.now() - s < 300); await new Promise(r => setTimeout(r, 5)) }
    console.log('finished')`)
  t.equal(out.signal, null)
  t.equal(out.code, 0)
  t.equal(out.stdout.trim(), 'finished')
})

t.test('before it is armed (a worker still starting, holding no lease) a longer stall is survived; armed, the same stall kills', async t => {
  const started = await run(1000, `${freeze(2500)}; console.log('started'); watchdog.arm(); ${freeze('forever')}`, 8000)
  t.equal(started.stdout.trim(), 'started', 'a 2.5 s stall while starting did not kill it')
  t.equal(started.signal, 'SIGKILL', 'once armed, a frozen loop is killed')
  t.match(started.stderr, /event loop frozen/)
  const frozen = await run(1000, freeze('forever'), 3000)
  t.equal(frozen.signal, 'SIGKILL', 'a start frozen for good still ends, after the start bound')
  t.ok(JSON.parse(frozen.stderr.trim().split('\n').at(-1)!).silentMs >= 3000, 'not before it')
})

t.test('WATCHDOG_MS=0 turns it off', async t => {
  const out = await run(0, `${freeze(2500)}; console.log('thawed')`)
  t.equal(out.signal, null)
  t.equal(out.stdout.trim(), 'thawed')
})

t.test('with the default settings, a worker stuck in a busy loop dies before its lease can lapse', async t => {
  const configPath = fileURLToPath(new URL('../src/config.ts', import.meta.url))
  const script = `
    const { startWatchdog } = await import(${JSON.stringify(watchdogPath)})
    const { loadConfig } = await import(${JSON.stringify(configPath)})
    const config = loadConfig({})
    startWatchdog(config.WATCHDOG_MS, 'w-busy').arm()
    console.log(JSON.stringify({ at: Date.now(), leaseTtlMs: config.LEASE_TTL_MS }))
    for (;;) {}`
  const out = await new Promise<Outcome & { endedAt: number }>(resolve => {
    const child = execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 60_000, killSignal: 'SIGKILL', env: { PATH: process.env.PATH ?? '' } },
      (_err, stdout, stderr) => resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr, endedAt: Date.now() }))
  })
  const { at, leaseTtlMs } = JSON.parse(out.stdout.trim())
  t.equal(out.signal, 'SIGKILL', 'killed')
  t.match(out.stderr, /event loop frozen/, 'by the watchdog')
  t.ok(out.endedAt - at < leaseTtlMs, `dead ${out.endedAt - at} ms after the loop froze, before the ${leaseTtlMs} ms lease`)
})
