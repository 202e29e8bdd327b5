// A fleet of N linked sessions (10,000 by default) on this machine: 2 worker processes, 1 API node,
// the simulator in its own process, a Redis server of the run's own (so every command counted is
// ours). One run measures, in one table: memory per session (RSS growth of each worker and of the
// simulator), idle CPU per 100 sessions (CPU time over an idle minute), Redis commands per second
// at rest (with a MONITOR breakdown), Postgres connections (pg_stat_activity by application), the
// time to connect all after every worker restarts, and the failover of the worker holding half of
// them (SIGKILL → all connected on the other within 30 s?). The fleet is provisioned once (see
// src/provision.ts) and kept in bench/.data: later runs of the same size start at once.
//   pnpm --filter @wss/bench fleet10k [-- --sessions 10000 --idle-seconds 60 --settle-seconds 30 --prekeys 30]
import { writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { cpuMs, fmtBytes, fmtMs, machine, options, printTable, rssBytes, sleep, startStack, until, type Stack } from './src/harness.ts'
import { startOwnRedis } from './src/chaos/services.ts'
import { provisionFleet } from './src/provision.ts'
import { idleMinute, pgConnections, type Idle } from './src/fleet-idle.ts'

const values = options({
  sessions: { type: 'string', default: '10000' },
  'idle-seconds': { type: 'string', default: '60' },
  'settle-seconds': { type: 'string', default: '30' },
  prekeys: { type: 'string', default: '30' },
  'failover-target-seconds': { type: 'string', default: '30' }
})
const n = Number(values.sessions)
const settleMs = Number(values['settle-seconds']) * 1000
const failoverTargetMs = Number(values['failover-target-seconds']) * 1000
// Walking 10,000 sessions through the API costs CPU the workers need: poll less often for big fleets.
const pollMs = n > 2000 ? 2000 : 500
const load = () => loadavg()[0]!.toFixed(1)
type Row = [figure: string, value: string, target?: string, met?: boolean]

console.log(`fleet: ${n} linked sessions, 2 workers, 1 API node, the simulator; ${machine()}; load ${load()}`)
const redis = await startOwnRedis({ persist: false })
process.env.BENCH_REDIS_URL = redis.url
const baseRss = await emptyWorkerRss(settleMs)
const stack = await startStack({ name: `fleet-${n}`, keep: true, env: { RATE_LIMIT_MAX: '1000000' } })
const rows: Row[] = []
// Each figure is printed as soon as it is known, so a run cut short still tells what it measured.
const add = (...more: Row[]) => { for (const r of more) { rows.push(r); console.log(`  ${r[0]}: ${r[1]}${r[2] ? ` (target ${r[2]}: ${r[3] ? 'met' : 'NOT met'})` : ''}`) } }
add(['sessions / workers / API nodes', `${n} / 2 / 1`], ['worker RSS, same code holding no session', fmtBytes(baseRss)])
const record: Record<string, unknown> = { n, date: new Date().toISOString(), machine: machine() }
try {
  await stack.addApi()
  const provisioned = await provisionFleet(stack, n, { preKeys: Number(values.prekeys) })
  record.provisioned = provisioned
  await sleep(2000)
  const simRss0 = rssBytes(stack.simPid)

  const first = await startAll(stack, 'first start')
  add(['first start: workers up → all connected', `${fmtMs(first.ms)} (load ${first.load})`],
    ['… CPU per session: workers / simulator', `${fmtMs(first.workerCpu / n)} / ${fmtMs(first.simCpu / n)}`])
  await sleep(settleMs)
  const counts = await Promise.all(first.workers.map(w => stack.ownedBy(w.id)))
  const rss = first.workers.map(w => rssBytes(w.pid))
  const simRss = rssBytes(stack.simPid)
  add(
    ...first.workers.map((w, i): Row => [`memory per session, worker ${i + 1} (RSS growth / its ${counts[i]} sessions)`, `${fmtBytes((rss[i]! - baseRss) / counts[i]!)} (RSS ${fmtBytes(rss[i]!)})`, '≤ 3 MB', (rss[i]! - baseRss) / counts[i]! <= 3 * 2 ** 20]),
    [`simulator RSS: state loaded, no socket / all ${n} connected (÷ ${n})`, `${fmtBytes(simRss0)} / ${fmtBytes(simRss)} (${fmtBytes(simRss / n)})`]
  )

  const idle = await idleMinute(stack, first.workers, Number(values['idle-seconds']) * 1000)
  add(...idleRows(idle))
  record.idle = idle

  const restart = await restartAll(stack, first.workers)
  add(['restart (SIGTERM both, 2 new) → all connected', `${fmtMs(restart.ms)} (load ${restart.load})`],
    ['… the old workers stopping / the new ones registered', `${fmtMs(restart.stopMs)} / ${fmtMs(restart.registeredMs)}`],
    ['… CPU per session: new workers / simulator', `${fmtMs(restart.workerCpu / n)} / ${fmtMs(restart.simCpu / n)}`],
    ['… Postgres connections at most while reconnecting', String(restart.pgMax)])

  const fo = await failover(stack, restart.workers)
  add([`failover: SIGKILL the worker holding ${fo.killedHeld} → all on the other`, `${fmtMs(fo.ms)} (load ${fo.load})`, `≤ ${fmtMs(failoverTargetMs)}`, fo.ms <= failoverTargetMs],
    ['… first session claimed by the survivor / its CPU per session taken over', `${fmtMs(fo.firstMs)} / ${fmtMs(fo.cpu / fo.killedHeld)}`],
    [`… survivor's RSS holding all ${n} (per session over the empty worker)`, `${fmtBytes(fo.rss)} (${fmtBytes((fo.rss - baseRss) / n)})`])
  Object.assign(record, { first: { ...first, workers: undefined }, restart: { ...restart, workers: undefined }, failover: fo, rows })
  printTable(`fleet — ${n} linked sessions on 2 workers (${new Date().toISOString().slice(0, 16)}Z, load now ${load()})`, rows)
  writeFileSync(join(stack.runDir, 'fleet.json'), JSON.stringify(record, null, 2))
  console.log(`details: ${stack.runDir}`)
} finally {
  await stack.stop()
  await redis.stop()
}
process.exit(0)

function idleRows (idle: Idle): Row[] {
  const per100 = (cpu: number, sessions: number) => `${((cpu / idle.ms) * 100 * (100 / sessions)).toFixed(3)} % of a core`
  return [
    ...idle.workers.map((w, i): Row => [`idle CPU per 100 sessions, worker ${i + 1} (${w.sessions} sessions, ${(idle.ms / 1000).toFixed(0)} s)`, per100(w.cpu, w.sessions)]),
    ['idle CPU per 100 sessions: simulator / API node', `${per100(idle.simCpu, n)} / ${per100(idle.apiCpu, n)}`],
    ['Redis commands per second at rest (whole stack, INFO)', idle.redisPerSecond.toFixed(1)],
    ['… sent by clients (MONITOR) / run inside scripts', `${idle.clientPerSecond.toFixed(1)} (${idle.topCommands}) / ${idle.scriptPerSecond.toFixed(1)}`],
    ['Postgres connections at rest, by application (active)', idle.pg]
  ]
}

/** RSS of the worker code with no session (its own empty database and simulator). */
async function emptyWorkerRss (settle: number): Promise<number> {
  const empty = await startStack({ name: 'empty', env: {} })
  try {
    const w = await empty.addWorker()
    await sleep(settle)
    return rssBytes(w.pid)
  } finally {
    await empty.stop()
  }
}

async function allConnected (s: Stack, timeoutMs: number, also: () => Promise<boolean> = async () => true) {
  return until(async () => (await s.connectedCount()) >= n && await also(), timeoutMs, pollMs)
}

/** Starts 2 workers; resolves when every session is connected. */
async function startAll (s: Stack, what: string) {
  const sim0 = cpuMs(s.simPid)
  const t0 = performance.now()
  const workers = [await s.addWorker(), await s.addWorker()]
  const cpu0 = workers.map(w => cpuMs(w.pid))
  if (!await allConnected(s, 1_800_000)) throw new Error(`${what}: only ${await s.connectedCount()} of ${n} connected`)
  const ms = performance.now() - t0
  const workerCpu = workers.reduce((sum, w, i) => sum + cpuMs(w.pid) - cpu0[i]!, 0)
  console.log(`${what}: all ${n} connected after ${fmtMs(ms)} (load ${load()})`)
  return { workers, ms, workerCpu, simCpu: cpuMs(s.simPid) - sim0, load: load() }
}

/** Every worker stops (SIGTERM, as a deploy does) and 2 new ones start; until all are connected again. */
async function restartAll (s: Stack, old: Array<Awaited<ReturnType<Stack['addWorker']>>>) {
  const t0 = performance.now()
  for (const w of old) w.proc.kill('SIGTERM')
  await Promise.all(old.map(w => w.exited))
  const stopMs = performance.now() - t0
  const sim0 = cpuMs(s.simPid)
  const workers = [await s.addWorker(), await s.addWorker()]
  const registeredMs = performance.now() - t0
  const cpu0 = workers.map(w => cpuMs(w.pid))
  let pgMax = 0
  const ok = await allConnected(s, 1_800_000, async () => { pgMax = Math.max(pgMax, (await pgConnections(s)).total); return true })
  const ms = performance.now() - t0
  if (!ok) throw new Error(`restart: only ${await s.connectedCount()} of ${n} connected after ${fmtMs(ms)}`)
  const workerCpu = workers.reduce((sum, w, i) => sum + cpuMs(w.pid) - cpu0[i]!, 0)
  console.log(`restart: all ${n} connected after ${fmtMs(ms)} (load ${load()})`)
  return { workers, ms, stopMs, registeredMs, workerCpu, simCpu: cpuMs(s.simPid) - sim0, pgMax, load: load() }
}

/** SIGKILL the first worker: how long until every session is connected on the other. */
async function failover (s: Stack, workers: Array<Awaited<ReturnType<Stack['addWorker']>>>) {
  const [victim, survivor] = workers as [typeof workers[0], typeof workers[0]]
  const killedHeld = await s.ownedBy(victim.id)
  const cpu0 = cpuMs(survivor.pid)
  victim.proc.kill('SIGKILL')
  const t0 = performance.now()
  let firstMs = 0
  const survivorHeld0 = await s.ownedBy(survivor.id)
  const ok = await until(async () => {
    const owned = await s.ownedBy(survivor.id)
    if (owned > survivorHeld0 && firstMs === 0) firstMs = performance.now() - t0
    return owned >= n && (await s.connectedCount()) >= n
  }, 1_800_000, pollMs)
  const ms = performance.now() - t0
  if (!ok) throw new Error(`failover: only ${await s.connectedCount()} of ${n} connected after ${fmtMs(ms)}`)
  console.log(`failover: all ${n} on the survivor after ${fmtMs(ms)} (load ${load()})`)
  return { ms, firstMs, killedHeld, cpu: cpuMs(survivor.pid) - cpu0, rss: rssBytes(survivor.pid), load: load() }
}
