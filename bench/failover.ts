// A worker holding 100 sessions is killed (SIGKILL): how long until all are connected again on
// the remaining worker. Default lease and sweep settings.
//   pnpm --filter @wss/bench failover [-- --sessions 100 --runs 3]
import { loadavg } from 'node:os'
import { cpuMs, fmtMs, machine, options, printTable, sleep, startStack, until } from './src/harness.ts'
import { ensureFleet } from './src/fleet.ts'
import { tempWorkers } from './src/workers.ts'

const values = options({ sessions: { type: 'string', default: '100' }, runs: { type: 'string', default: '3' } })
const n = Number(values.sessions)

console.log(`failover: SIGKILL a worker holding ${n} sessions; ${machine()}`)
const stack = await startStack({ name: 'failover', keep: true, env: { RATE_LIMIT_MAX: '1000000' } })
try {
  await stack.addApi()
  await ensureFleet(stack, n, tempWorkers(stack, 2))
  const times: Array<{ total: number, firstBack: number, cpu: number }> = []
  let holder = await stack.addWorker()
  if (!await until(async () => (await stack.connectedCount()) >= n && (await stack.ownedBy(holder.id)) >= n, 120_000, 250)) throw new Error('the first worker did not take every session')
  for (let r = 0; r < Number(values.runs); r++) {
    const survivor = await stack.addWorker()
    await sleep(3000)
    // The survivor's CPU from the kill until it holds every session: what taking them over costs,
    // a figure a loaded machine moves much less than the wall time.
    const cpu0 = cpuMs(survivor.pid)
    holder.proc.kill('SIGKILL')
    const t0 = performance.now()
    let firstBack = 0
    await until(async () => (await stack.connectedCount()) === 0, 30_000, 50).then(() => undefined)
    const ok = await until(async () => {
      const up = await stack.connectedCount()
      if (up > 0 && firstBack === 0) firstBack = performance.now() - t0
      return up >= n && (await stack.ownedBy(survivor.id)) >= n
    }, 120_000, 100)
    const total = performance.now() - t0
    const cpu = cpuMs(survivor.pid) - cpu0
    if (!ok) throw new Error(`only ${await stack.connectedCount()} of ${n} back after ${fmtMs(total)}`)
    times.push({ total, firstBack, cpu })
    console.log(`run ${r + 1}: all ${n} connected on the remaining worker after ${fmtMs(total)} (first after ${fmtMs(firstBack)}; the survivor's CPU ${fmtMs(cpu)}, ${fmtMs(cpu / n)} per session; load ${loadavg()[0]!.toFixed(1)})`)
    holder = survivor // the next run kills this one
  }
  const worst = Math.max(...times.map(t => t.total))
  printTable(`failover — SIGKILL a worker holding ${n} sessions, ${times.length} runs (LEASE_TTL_MS and SWEEP_INTERVAL_MS at their defaults)`, [
    ['kill → all connected on the remaining worker (worst)', fmtMs(worst), '≤ 15 s', worst <= 15_000],
    ['per run', times.map(t => fmtMs(t.total)).join(', ')],
    ['kill → first session connected again (per run)', times.map(t => fmtMs(t.firstBack)).join(', ')],
    ['the survivor\'s CPU per session taken over (per run)', times.map(t => fmtMs(t.cpu / n)).join(', ')]
  ])
} finally {
  await stack.stop()
}
process.exit(0)
