// Memory per linked idle session: 1,000 linked sessions held by one worker process. Also the
// worker's CPU per 100 idle sessions and Redis commands per second at rest.
//   pnpm --filter @wss/bench memory [-- --sessions 1000 --idle-seconds 60]
import { options, cpuMs, fmtBytes, fmtMs, machine, printTable, rssBytes, sleep, startStack, until } from './src/harness.ts'
import { ensureFleet } from './src/fleet.ts'
import { tempWorkers } from './src/workers.ts'

const values = options({ sessions: { type: 'string', default: '1000' }, 'idle-seconds': { type: 'string', default: '60' }, 'settle-seconds': { type: 'string', default: '30' } })
const n = Number(values.sessions)
const idleMs = Number(values['idle-seconds']) * 1000
const settleMs = Number(values['settle-seconds']) * 1000

console.log(`memory: ${n} linked idle sessions in one worker process; ${machine()}`)
const stack = await startStack({ name: 'fleet', keep: true, env: { RATE_LIMIT_MAX: '1000000' } })
try {
  await stack.addApi()
  await ensureFleet(stack, n, tempWorkers(stack, 2))

  // The same worker code holding nothing: its database has no sessions.
  const emptyStack = await startStack({ name: 'empty', env: {} })
  const empty = await emptyStack.addWorker()
  await sleep(settleMs)
  const baseRss = rssBytes(empty.pid)
  await emptyStack.stop()

  const t0 = Date.now()
  const worker = await stack.addWorker()
  const rssStart = rssBytes(worker.pid)
  const allUp = await until(async () => (await stack.connectedCount()) >= n, 300_000, 500)
  const upMs = Date.now() - t0
  if (!allUp) throw new Error(`only ${await stack.connectedCount()} of ${n} connected`)
  await sleep(settleMs)
  const rssConnected = rssBytes(worker.pid)

  const info = async () => Number(/total_commands_processed:(\d+)/.exec(await stack.redis.info('stats'))![1])
  const cpu0 = cpuMs(worker.pid)
  const cmd0 = await info()
  const tIdle = Date.now()
  await sleep(idleMs)
  const idleElapsed = Date.now() - tIdle
  const cpu = cpuMs(worker.pid) - cpu0
  const commands = (await info()) - cmd0 - 2 // this benchmark's own INFO calls
  const rssIdle = rssBytes(worker.pid)
  const stillUp = await stack.connectedCount()

  const perSession = (rssIdle - baseRss) / n
  printTable(`memory — ${n} linked idle sessions in one worker`, [
    ['worker RSS, same code holding no session', fmtBytes(baseRss)],
    ['worker RSS, all connected + settled', fmtBytes(rssConnected)],
    [`worker RSS after ${idleElapsed / 1000} s idle`, fmtBytes(rssIdle)],
    ['memory per linked idle session (RSS growth / sessions)', fmtBytes(perSession), '≤ 3 MB', perSession <= 3 * 2 ** 20],
    ['time for one worker to connect all (from its start)', fmtMs(upMs)],
    ['sessions still connected after the idle period', `${stillUp} / ${n}`],
    ['worker CPU per 100 idle sessions', `${((cpu / idleElapsed) * 100 * (100 / n)).toFixed(2)} % of a core`],
    ['Redis commands per second at rest (whole stack)', (commands / (idleElapsed / 1000)).toFixed(1)]
  ])
  void rssStart
} finally {
  await stack.stop()
}
process.exit(0)
