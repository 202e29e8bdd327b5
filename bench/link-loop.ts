// Diagnostic, not a benchmark: links N sessions through the product (8 at a time, as the fleet does)
// on a fresh database and says whether all connected. Found the Node 20 crypto deadlock described in
// RESULTS.md ("Found and fixed"), which hung ~1 run in 5 before the fix:
//   BENCH_HOLD=1200 BENCH_LOG_LEVEL=debug npx tsx bench/link-loop.ts 30   (repeat)
import { startStack } from './src/harness.ts'
import { ensureFleet } from './src/fleet.ts'
const stack = await startStack({ name: 'linkloop', env: { RATE_LIMIT_MAX: '1000000' } })
try {
  await stack.addApi()
  await stack.addWorker()
  await ensureFleet(stack, Number(process.argv[2] ?? 30), async () => async () => {})
  console.log('all linked')
} catch (err) {
  console.log('FAILED', (err as Error).message, stack.runDir)
  // BENCH_HOLD=seconds: keep the stack up after a failure, to attach an inspector to it.
  const hold = Number(process.env.BENCH_HOLD ?? 0)
  if (hold > 0) {
    console.log('holding', hold, 's; simulator pid', stack.simPid)
    await new Promise(resolve => setTimeout(resolve, hold * 1000))
  }
} finally { await stack.stop() }
process.exit(0)
