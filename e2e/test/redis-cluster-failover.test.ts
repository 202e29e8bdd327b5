import t from 'tap'
import { runTestFileOn, startRedisCluster } from '../src/redis-cluster.ts'

// The failover test (cluster.test.ts: a worker killed, one joining, one stopped; unchanged) on a
// Redis Cluster of three masters.
const url = startRedisCluster(t, 7400)

t.test('the failover test passes on a Redis Cluster', async t => {
  const { code, output } = await runTestFileOn(url, new URL('./cluster.test.ts', import.meta.url))
  t.equal(code, 0, code === 0 ? 'cluster.test.ts passed' : output.slice(-6000))
  t.match(output, /^1\.\.\d+$/m, 'it ran its tests')
  t.notMatch(output, /^not ok /m, 'none failed')
})
