// Diagnostic, not a benchmark: links N sessions through the product (8 at a time, as the fleet does)
// on a fresh database and says whether all connected. Found the hang noted in RESULTS.md ("Open"):
//   BENCH_LOG_LEVEL=debug npx tsx bench/link-loop.ts 30   (repeat; ~1 run in 5 hangs)
import { startStack } from './src/harness.ts'
import { ensureFleet } from './src/fleet.ts'
const stack = await startStack({ name: 'linkloop', env: { RATE_LIMIT_MAX: '1000000' } })
try {
  await stack.addApi()
  await stack.addWorker()
  await ensureFleet(stack, Number(process.argv[2] ?? 30), async () => async () => {})
  console.log('all linked')
} catch (err) { console.log('FAILED', (err as Error).message, stack.runDir) } finally { await stack.stop() }
process.exit(0)
