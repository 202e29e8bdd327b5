// The chaos run: the real stack on a Postgres and a Redis of its own, a steady load, event
// clients, and faults on a seeded schedule; then the invariants. See bench/chaos.ts.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fmtMs, sleep, startStack, until, type Stack } from '../harness.ts'
import { ensureFleet, fleetPhone, fleetSessionId } from '../fleet.ts'
import { checkEvents, checkRecovery, checkSends, checkViews, overlaps, type Check } from './checks.ts'
import { FAULT_KINDS, inject, schedule, type FaultContext } from './faults.ts'
import { workerPool } from './fleet-procs.ts'
import { startListeners } from './listeners.ts'
import { startLoad } from './load.ts'
import { startMonitor, type Monitor } from './monitor.ts'
import { checksTable, faultTable, overlapLines, type Measured } from './report.ts'
import { createRng } from './rng.ts'
import { startOwnPostgres, startOwnRedis } from './services.ts'

export interface ChaosOptions { minutes: number, sessions: number, seed: number, rate: number, workers: number, recipients: number }

const RECOVERY_BOUND_MS = 15_000
const LEASE_MS = 8000

/** Waits until every session was connected for 3 s in a row (or the time is up). */
const settled = (monitor: Monitor, ms: number) => until(() => monitor.allConnectedFor(3000), ms, 250)

async function prepare (stack: Stack, opts: ChaosOptions, log: (l: string) => void) {
  const pool = workerPool(stack, opts.workers, log)
  await stack.addApi()
  await stack.addApi()
  await pool.fill()
  await ensureFleet(stack, opts.sessions, async () => async () => {}, log)
  const recipients = Array.from({ length: opts.recipients }, (_, i) => `1555400${String(i).padStart(4, '0')}`)
  for (const phone of recipients) await stack.sim.createAccount(phone).catch(() => undefined)
  const sessions: FaultContext['sessions'] = []
  for (let i = 0; i < opts.sessions; i++) {
    const phone = fleetPhone(i)
    await stack.sim.addContacts(phone, recipients)
    const account = await stack.sim.account(phone)
    sessions.push({ sessionId: fleetSessionId(i), phone, deviceId: account.devices[0]!.id })
  }
  return { pool, recipients, sessions }
}

export async function runChaos (opts: ChaosOptions): Promise<{ ok: boolean, fired: Record<string, number> }> {
  const t0 = Date.now()
  const log = (line: string) => console.log(`[+${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}`)
  console.log(`chaos: seed ${opts.seed}, ${opts.minutes} min, ${opts.sessions} sessions, ${opts.rate} sends/s, ${opts.workers} workers, 2 API nodes`)
  const pg = await startOwnPostgres()
  const redis = await startOwnRedis()
  process.env.BENCH_DATABASE_URL = pg.url
  process.env.BENCH_REDIS_URL = redis.url
  process.env.BENCH_START_TIMEOUT_MS ??= '120000' // processes start slowly while faults and the load run
  log(`own Postgres ${pg.url}, own Redis ${redis.url}`)
  const stack = await startStack({ name: 'chaos', env: { RATE_LIMIT_MAX: '1000000', SEND_TIMEOUT_MS: '8000', LEASE_TTL_MS: String(LEASE_MS) } })
  const cleanup = async () => { await stack.stop().catch(() => undefined); await redis.stop(); pg.stop() }
  try {
    const { pool, recipients, sessions } = await prepare(stack, opts, log)
    const monitor = startMonitor(stack, sessions.map(s => ({ sessionId: s.sessionId, device: `${s.phone}:${s.deviceId}` })))
    if (!await settled(monitor, 120_000)) throw new Error('the sessions did not all connect before the faults')
    log(`stack up: ${sessions.length} sessions connected; load and listeners start`)
    const listeners = startListeners(stack)
    const load = startLoad(stack, { senders: sessions, recipients, perSecond: opts.rate, rng: createRng(opts.seed ^ 0x5eed), log })
    const ctx: FaultContext = { stack, pool, pg, redis, sessions, leaseMs: LEASE_MS, log }
    const outcomes = await faultLoop(ctx, monitor, opts, log)

    log('faults over; the load stops, sends settle')
    await load.stop()
    await until(async () => (await stack.prisma.status.count({ where: { state: 'pending' } })) === 0, 90_000, 1000)
    await sleep(3000)
    for (const l of listeners) l.close()
    await monitor.stop()
    return await verdict(stack, opts, { outcomes, sends: load.sends, listeners, sessions, log, t0 })
  } finally {
    await cleanup()
  }
}

async function faultLoop (ctx: FaultContext, monitor: Monitor, opts: ChaosOptions, log: (l: string) => void): Promise<Measured[]> {
  const rng = createRng(opts.seed)
  const steps = schedule(rng, 1000)
  const end = Date.now() + opts.minutes * 60_000
  const fired = new Set<string>()
  const outcomes: Measured[] = []
  for (const step of steps) {
    // Time is up once every kind fired at least once.
    if (Date.now() >= end && FAULT_KINDS.every(k => fired.has(k))) break
    log(`fault: ${step.join(' + ')}`)
    const done = await Promise.all(step.map(kind => inject(kind, ctx, rng).catch(err => ({ kind, at: Date.now(), from: Date.now(), detail: `injection failed: ${(err as Error).message}` }))))
    for (const k of step) fired.add(k)
    await sleep(2000)
    const back = await settled(monitor, 90_000)
    for (const o of done) {
      const r = monitor.recovery(o.from)
      outcomes.push({ ...o, recoveryMs: back ? r.ms : Infinity, fewest: r.fewest, together: step.filter(k => k !== o.kind) })
      log(`  ${o.kind}: ${o.detail}; ${back ? `all connected ${fmtMs(r.ms)} after` : 'NOT all connected after 90 s'} (fewest ${r.fewest}${r.missing.length ? `, e.g. ${r.missing.slice(0, 3).join(', ')}` : ''})`)
    }
    await sleep(2000 + rng.int(4000))
  }
  return outcomes
}

interface RunData {
  outcomes: Measured[]
  sends: Awaited<ReturnType<ReturnType<typeof startLoad>['stop']>>
  listeners: ReturnType<typeof startListeners>
  sessions: FaultContext['sessions']
  log: (l: string) => void
  t0: number
}

async function verdict (stack: Stack, opts: ChaosOptions, run: RunData) {
  const { outcomes, sends, listeners, sessions } = run
  const paused = outcomes.flatMap(o => o.paused ? [o.paused] : [])
  const found = overlaps(await stack.sim.connections(), sessions.map(s => `${s.phone}:${s.deviceId}`), paused)
  const sendChecks = await checkSends(stack, sends, run.t0)
  const viewChecks = await checkViews(stack, sends, sendChecks.rows)
  const events = checkEvents(listeners, sendChecks.rows, run.t0)
  const fought = outcomes.filter(o => (o.fought ?? 0) > 0)
  const checks: Check[] = [
    { name: 'never two connections of one device (outside SIGSTOP windows)', ok: found.every(o => o.inPause), detail: overlapLines(found).join('; ') },
    { name: 'a replaced (440) session does not reconnect by itself', ok: fought.length === 0, detail: fought.length ? fought.map(o => o.detail).join('; ') : `${outcomes.filter(o => o.kind === 'sim-replaced').length} faults` },
    ...sendChecks.checks,
    ...viewChecks,
    checkRecovery(outcomes, RECOVERY_BOUND_MS, run.t0),
    ...events.checks
  ]
  const answers = new Map<number, number>()
  for (const s of sends) answers.set(s.status, (answers.get(s.status) ?? 0) + 1)
  const retried = sends.filter(s => s.attempts > 1).length
  const odd = sends.filter(s => ![201, 202, 409].includes(s.status)).map(s => `${s.sessionId} at +${((s.startedAt - run.t0) / 1000).toFixed(1)} s: ${s.answers.join(',')}`)
  const fired = Object.fromEntries(FAULT_KINDS.map(k => [k, outcomes.filter(o => o.kind === k).length]))
  const ok = checks.every(c => c.ok)
  const report = [
    `chaos — seed ${opts.seed}, ${opts.minutes} min, ${opts.sessions} sessions, ${opts.workers} workers, 2 API nodes, ${opts.rate} sends/s`,
    '',
    faultTable(outcomes, sessions.length, RECOVERY_BOUND_MS),
    '',
    `sends: ${sends.length} (${[...answers].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s === 0 ? 'network error' : s}: ${n}`).join(', ')}); ${retried} retried with their Idempotency-Key`,
    ...(odd.length ? [`other answers: ${odd.slice(0, 5).join('; ')}`] : []),
    ...events.lines,
    ...overlapLines(found),
    '',
    checksTable(checks),
    '',
    `seed ${opts.seed}: ${ok ? 'every check passed' : 'SOME CHECKS FAILED'} (replay: pnpm --filter @wss/bench chaos -- --seed ${opts.seed} --minutes ${opts.minutes} --sessions ${opts.sessions})`
  ].join('\n')
  console.log(`\n${report}\n`)
  writeFileSync(join(stack.runDir, 'chaos.json'), JSON.stringify({ opts, outcomes, checks, fired, overlaps: found }, null, 2))
  writeFileSync(join(stack.runDir, 'chaos.txt'), report + '\n')
  console.log(`CHAOS_RESULT ${JSON.stringify({ ok, seed: opts.seed, fired })}`)
  return { ok, fired }
}
