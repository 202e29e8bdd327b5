// The fleet benchmark's readings at rest: CPU of every process over an idle period, Redis commands
// (with a MONITOR breakdown by command) and Postgres connections by application.
import { Redis } from 'ioredis'
import { cpuMs, sleep, type Stack } from './harness.ts'

export interface Idle {
  ms: number
  workers: Array<{ sessions: number, cpu: number }>
  simCpu: number
  apiCpu: number
  redisPerSecond: number
  /** Commands sent by clients (MONITOR), per second; the rest of what MONITOR shows ran inside scripts. */
  clientPerSecond: number
  scriptPerSecond: number
  /** The most frequent commands clients sent over the period, "NAME count/s". */
  topCommands: string
  commands: Record<string, number>
  /** Postgres connections by application and state, as text. */
  pg: string
}

/** Postgres connections of the benchmark's database, by application name and state. */
export async function pgConnections (stack: Stack) {
  const rows = await stack.prisma.$queryRaw<Array<{ app: string, state: string | null, n: bigint }>>`
    SELECT application_name AS app, state, count(*) AS n FROM pg_stat_activity
    WHERE datname = current_database() GROUP BY 1, 2 ORDER BY 1, 2`
  const byApp = new Map<string, { total: number, active: number }>()
  for (const r of rows) {
    const e = byApp.get(r.app || '(unnamed)') ?? { total: 0, active: 0 }
    e.total += Number(r.n)
    if (r.state === 'active') e.active += Number(r.n)
    byApp.set(r.app || '(unnamed)', e)
  }
  const total = [...byApp.values()].reduce((s, e) => s + e.total, 0)
  return { total, text: [...byApp].map(([app, e]) => `${app} ${e.total} (${e.active})`).join(', ') + ` — ${total} in all` }
}

/** CPU of every process, Redis commands (counted and sampled by MONITOR) and Postgres connections over `ms` at rest. */
export async function idleMinute (stack: Stack, workers: Array<{ pid: number, id: string }>, ms: number): Promise<Idle> {
  const sessions = await Promise.all(workers.map(w => stack.ownedBy(w.id)))
  const info = async () => Number(/total_commands_processed:(\d+)/.exec(await stack.redis.info('stats'))![1])
  const monitor = new Redis(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379') // MONITOR takes a connection for itself
  const commands: Record<string, number> = {}
  let inScripts = 0
  const mon = await monitor.monitor()
  mon.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === 'lua') { inScripts++; return }
    const c = String(args[0]).toUpperCase()
    commands[c] = (commands[c] ?? 0) + 1
  })
  const api = stack.apis[0]!
  const w0 = workers.map(w => cpuMs(w.pid))
  const sim0 = cpuMs(stack.simPid)
  const api0 = cpuMs(api.pid)
  const cmd0 = await info()
  const t0 = Date.now()
  await sleep(ms)
  const elapsed = Date.now() - t0
  const result: Idle = {
    ms: elapsed,
    workers: workers.map((w, i) => ({ sessions: sessions[i]!, cpu: cpuMs(w.pid) - w0[i]! })),
    simCpu: cpuMs(stack.simPid) - sim0,
    apiCpu: cpuMs(api.pid) - api0,
    redisPerSecond: ((await info()) - cmd0 - 2) / (elapsed / 1000), // this benchmark's own INFO calls
    clientPerSecond: 0,
    scriptPerSecond: inScripts / (elapsed / 1000),
    topCommands: '',
    commands,
    pg: (await pgConnections(stack)).text
  }
  mon.disconnect()
  monitor.disconnect()
  delete commands.INFO
  delete commands.MONITOR
  result.clientPerSecond = Object.values(commands).reduce((a, b) => a + b, 0) / (elapsed / 1000)
  result.topCommands = Object.entries(commands).sort((a, b) => b[1] - a[1]).slice(0, 4)
    .map(([c, k]) => `${c} ${(k / (elapsed / 1000)).toFixed(1)}/s`).join(', ')
  return result
}
