import t from 'tap'
import { runTestFileOn, startRedisCluster } from '../src/redis-cluster.ts'

// The whole e2e flow (flow.test.ts, unchanged) on a Redis Cluster of three masters.
const url = startRedisCluster(t, 7200)

t.test('the e2e flow passes on a Redis Cluster', async t => {
  const { code, output } = await runTestFileOn(url, new URL('./flow.test.ts', import.meta.url))
  t.equal(code, 0, code === 0 ? 'flow.test.ts passed' : output.slice(-6000))
  t.match(output, /^1\.\.\d+$/m, 'it ran its tests')
  t.notMatch(output, /^not ok /m, 'none failed')
})
