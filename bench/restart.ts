// 1,000 linked sessions on two workers; every worker is restarted: how long until all are
// connected again. Starts from the kept fleet (saved simulator state + database).
//   pnpm --filter @wss/bench restart-workers [-- --sessions 1000 --workers 2]
import { cpuMs, fmtMs, machine, options, printTable, startStack, until } from './src/harness.ts'
import { ensureFleet } from './src/fleet.ts'
import { tempWorkers } from './src/workers.ts'

const values = options({ sessions: { type: 'string', default: '1000' }, workers: { type: 'string', default: '2' } })
const n = Number(values.sessions)
const count = Number(values.workers)

console.log(`restart: ${n} linked sessions, all ${count} workers restarted; ${machine()}`)
const stack = await startStack({ name: 'fleet', keep: true, env: { RATE_LIMIT_MAX: '1000000' } })
try {
  await stack.addApi()
  await ensureFleet(stack, n, tempWorkers(stack, 2))
  const start = async () => { const ws = []; for (let i = 0; i < count; i++) ws.push(await stack.addWorker()); return ws }
  const t0 = performance.now()
  let workers = await start()
  if (!await until(async () => (await stack.connectedCount()) >= n, 300_000, 250)) throw new Error(`only ${await stack.connectedCount()} connected`)
  const coldStart = performance.now() - t0

  // The restart: every worker stops (SIGTERM, as a deploy does), new ones start.
  const t1 = performance.now()
  for (const w of workers) w.proc.kill('SIGTERM')
  await Promise.all(workers.map(w => w.exited))
  const stopped = performance.now() - t1
  workers = await start()
  const registered = performance.now() - t1
  const cpu0 = workers.map(w => cpuMs(w.pid))
  let ok = await until(async () => (await stack.connectedCount()) >= n, 300_000, 100)
  const total = performance.now() - t1
  const cpu = workers.reduce((s, w, i) => s + cpuMs(w.pid) - cpu0[i]!, 0)
  if (!ok) throw new Error(`only ${await stack.connectedCount()} of ${n} connected after ${fmtMs(total)}`)
  const owners = await Promise.all(workers.map(w => stack.ownedBy(w.id)))
  ok = owners.reduce((s, x) => s + x, 0) >= n

  printTable(`restart — ${n} linked sessions, all ${count} workers restarted (SIGTERM, then new processes)`, [
    ['restart begins → all connected again', fmtMs(total), '≤ 60 s', total <= 60_000 && ok],
    ['… of which the old workers stopping', fmtMs(stopped)],
    ['… the new workers registered', fmtMs(registered)],
    ['sessions per new worker', owners.join(' / ')],
    ['new workers\' CPU until all connected (per session)', `${fmtMs(cpu)} (${fmtMs(cpu / n)})`],
    ['first start (workers up → all connected)', fmtMs(coldStart)]
  ])
} finally {
  await stack.stop()
}
process.exit(0)
