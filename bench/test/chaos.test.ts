import t from 'tap'
import { spawn } from 'node:child_process'
import { FAULT_KINDS } from '../src/chaos/faults.ts'

// The chaos run, short: 3 minutes of faults on 30 sessions (every fault kind at least once), on a
// Postgres and a Redis of its own. CHAOS_SEED replays a schedule; the default seed keeps CI's fixed.
t.test('the short chaos run: every fault kind fires and every invariant holds', async t => {
  const seed = process.env.CHAOS_SEED ?? '1'
  const root = new URL('../', import.meta.url).pathname
  const child = spawn(process.execPath, ['--import', 'tsx', 'chaos.ts', '--minutes', '3', '--sessions', '30', '--seed', seed], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', chunk => { out += chunk; process.stdout.write(`# ${String(chunk).replace(/\n(?=.)/g, '\n# ')}`) })
  const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
  const line = /^CHAOS_RESULT (.*)$/m.exec(out)?.[1]
  t.ok(line, 'the run printed its result')
  const result = JSON.parse(line ?? '{}') as { ok?: boolean, seed?: number, fired?: Record<string, number> }
  for (const kind of FAULT_KINDS) t.ok((result.fired?.[kind] ?? 0) >= 1, `${kind} fired`)
  t.equal(code, 0, `every invariant held (seed ${result.seed ?? seed}; the table above says which failed)`)
})
