// The chaos run: simulator, 2 API nodes, 3 worker processes, a Postgres and a Redis of its own,
// a steady load with event clients listening, and faults on a seeded random schedule (worker
// SIGKILL and SIGSTOP, API node restart, Redis restart with and without its data, Postgres
// restart and terminated backends, the simulator's refused connections, 440, dropped sockets and
// delayed replies). Prints a table per fault kind and the invariants; exits 1 if one fails.
//   pnpm --filter @wss/bench chaos [-- --minutes 10 --sessions 200 --seed N --rate 2]
import { randomInt } from 'node:crypto'
import { options } from './src/harness.ts'
import { runChaos } from './src/chaos/run.ts'

const values = options({
  minutes: { type: 'string', default: '10' },
  sessions: { type: 'string', default: '200' },
  seed: { type: 'string', default: '' },
  rate: { type: 'string', default: '2' },
  workers: { type: 'string', default: '3' },
  recipients: { type: 'string', default: '20' }
})
const seed = values.seed ? Number(values.seed) : randomInt(2 ** 31)
const result = await runChaos({
  minutes: Number(values.minutes),
  sessions: Number(values.sessions),
  seed,
  rate: Number(values.rate),
  workers: Number(values.workers),
  recipients: Number(values.recipients)
})
process.exit(result.ok ? 0 : 1)
