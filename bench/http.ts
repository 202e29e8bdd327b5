// Authenticated GET /api/sessions/:id/connection-status against a bare Fastify JSON route, both
// loaded by the same client in the same run; and how soon a change of the session shows there.
//   pnpm --filter @wss/bench http [-- --seconds 10 --connections 32]
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { cpuMs, fmtMs, machine, options, printTable, root, sleep, startStack, until } from './src/harness.ts'
import { ensureFleet, fleetPhone, fleetSessionId } from './src/fleet.ts'

const values = options({ seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '32' }, rounds: { type: 'string', default: '6' }, 'log-level': { type: 'string', default: 'info' } })
const seconds = Number(values.seconds)
const connections = Number(values.connections)

console.log(`http: connection-status vs a bare Fastify route, ${connections} connections, ${values.rounds} × ${seconds} s each; ${machine()}`)
const stack = await startStack({ name: 'http', env: { RATE_LIMIT_MAX: '100000000' } })
const barePort = 20_000 + Math.floor(Math.random() * 20_000)
const bare = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/src/bare-server.ts')], { cwd: root, env: { ...process.env, PORT: String(barePort) }, stdio: ['ignore', 'pipe', 'inherit'] })
try {
  // The product's default log level (info): what a user runs.
  const api = await stack.addApi({ LOG_LEVEL: values['log-level'] })
  await stack.addWorker()
  await ensureFleet(stack, 1, async () => async () => {})
  const sessionId = fleetSessionId(0)
  await until(async () => (await fetch(`http://127.0.0.1:${barePort}/json`)).ok, 10_000, 100)

  const run = (url: string, headers: Record<string, string>, duration: number) => new Promise<autocannon.Result>((resolve, reject) => {
    autocannon({ url, connections, duration, headers }, (err, result) => err ? reject(err) : resolve(result))
  })
  const ours = { url: `${api.url}/api/sessions/${sessionId}/connection-status`, headers: { 'x-api-key': stack.apiKey } }
  const base = { url: `http://127.0.0.1:${barePort}/json`, headers: {} }
  const check = await fetch(ours.url, { headers: ours.headers }).then(r => r.json()) as any
  if (check.data?.connected !== true) throw new Error(`session not connected: ${JSON.stringify(check)}`)

  await run(base.url, base.headers, 3) // warm-up of both servers
  await run(ours.url, ours.headers, 3)
  // Short rounds in pairs, the order alternating (bare then ours, ours then bare, ...), and the ratio
  // taken per pair: this shared VM's speed drifts over a run (the bare route alone moved 16k-34k req/s
  // between 10 s rounds), and a ratio of neighbours does not drift with it.
  const bareRps: number[] = []
  const oursRps: number[] = []
  // CPU time of each server per request it answered (user + system, from /proc): what the ratio
  // follows on this machine, and steadier than throughput when the machine's speed changes.
  const bareCpu: number[] = []
  const oursCpu: number[] = []
  const ratios: number[] = []
  let errors = 0
  let non2xx = 0
  let oursLatency = { p50: 0, p99: 0 }
  for (let r = 0; r < Number(values.rounds); r++) {
    // One round against one server: its throughput result, its CPU per request recorded in `cpu`.
    const measure = async (target: { url: string, headers: Record<string, string> }, pid: number, cpu: number[]) => {
      const cpu0 = cpuMs(pid)
      const res = await run(target.url, target.headers, seconds)
      cpu.push((cpuMs(pid) - cpu0) * 1000 / res.requests.total)
      return res
    }
    const runOurs = async () => {
      const res = await measure(ours, api.pid, oursCpu)
      errors += res.errors
      non2xx += res.non2xx
      oursLatency = { p50: res.latency.p50, p99: res.latency.p99 }
      return res.requests.average
    }
    const runBare = async () => (await measure(base, bare.pid!, bareCpu)).requests.average
    let b: number, o: number
    if (r % 2 === 0) { b = await runBare(); o = await runOurs() } else { o = await runOurs(); b = await runBare() }
    bareRps.push(b)
    oursRps.push(o)
    ratios.push(o / b)
  }
  const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2 }
  const ratio = median(ratios)

  // Freshness, under the same load: the simulator cuts the session's socket; the worker records
  // `connecting` and announces it. How long until the route shows the session not connected?
  const poller = async (since: number) => {
    while (performance.now() - since < 10_000) {
      const body = await fetch(ours.url, { headers: ours.headers }).then(r => r.json()) as any
      if (body.data?.connected === false) return performance.now()
    }
    return NaN
  }
  const lags: Array<{ fromEvent: number, fromCut: number }> = []
  for (let i = 0; i < 5; i++) {
    await until(async () => ((await fetch(ours.url, { headers: ours.headers }).then(r => r.json())) as any).data?.connected === true, 30_000, 50)
    let eventAt = 0
    const closeEvents = await stack.events((event, data, at) => {
      if (event === 'connection-status' && data.sessionId === sessionId && data.connected === false && eventAt === 0) eventAt = at
    })
    const load = run(ours.url, ours.headers, 4)
    await sleep(1000)
    const cutAt = performance.now()
    const seenP = poller(cutAt)
    await stack.sim.dropDevice(fleetPhone(0), 1)
    const seenAt = await seenP
    await until(() => eventAt > 0, 5000, 5)
    lags.push({ fromEvent: seenAt - eventAt, fromCut: seenAt - cutAt })
    await load
    closeEvents()
  }
  const worstEvent = Math.max(...lags.map(l => l.fromEvent))

  printTable(`http — GET /api/sessions/:id/connection-status (API key, rate limit in Redis) vs a bare Fastify JSON route, ${connections} connections`, [
    ['bare Fastify JSON route (median round)', `${Math.round(median(bareRps))} req/s`],
    ['authenticated connection-status (median round)', `${Math.round(median(oursRps))} req/s (p50 ${oursLatency.p50} ms, p99 ${oursLatency.p99} ms)`],
    ['ratio (connection-status / bare), median of the pairs', `${ratio.toFixed(2)} (pairs: ${ratios.map(x => x.toFixed(2)).join(', ')})`, '≥ 0.5', ratio >= 0.5],
    ['server CPU per request: bare / ours (median round)', `${median(bareCpu).toFixed(1)} µs / ${median(oursCpu).toFixed(1)} µs`],
    ['errors / non-2xx answers', `${errors} / ${non2xx}`],
    ['a change shows on the route, after the worker announced it (worst of 5)', fmtMs(worstEvent), '≤ 100 ms', worstEvent <= 100],
    ['… after the simulator cut the socket (worst of 5)', fmtMs(Math.max(...lags.map(l => l.fromCut)))],
    ['per round: bare / ours (req/s)', bareRps.map((b, i) => `${Math.round(b)}/${Math.round(oursRps[i]!)}`).join(', ')]
  ])
} finally {
  bare.kill()
  await stack.stop()
}
process.exit(0)
