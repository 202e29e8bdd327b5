import t from 'tap'
import { Cluster, Redis } from 'ioredis'
import { createRedisConnection, parseRedisUrl } from '../src/index.ts'
import { loadSettings, RedisSettingsSchema } from '../src/settings.ts'

t.test('REDIS_URL: one server, or a cluster\'s seed nodes with their credentials', async t => {
  t.same(parseRedisUrl('redis://127.0.0.1:6379/2'), { cluster: false, url: 'redis://127.0.0.1:6379/2' })
  t.same(parseRedisUrl('redis+cluster://10.0.0.1:7001,10.0.0.2:7002'), {
    cluster: true, nodes: [{ host: '10.0.0.1', port: 7001 }, { host: '10.0.0.2', port: 7002 }], username: undefined, password: undefined, tls: false
  })
  t.same(parseRedisUrl('rediss+cluster://app:p%40ss@redis-a:6380,[::1]:6381/'), {
    cluster: true, nodes: [{ host: 'redis-a', port: 6380 }, { host: '::1', port: 6381 }], username: 'app', password: 'p@ss', tls: true
  }, 'TLS, a user and an escaped password, an IPv6 node')
  t.match(parseRedisUrl('redis+cluster://:secret@redis-a'), { nodes: [{ host: 'redis-a', port: 6379 }], password: 'secret' }, 'the default port')
  t.throws(() => parseRedisUrl('redis+cluster://secret-host:99999'), { message: 'REDIS_URL: a cluster node must be host:port' })
  let message = ''
  try { parseRedisUrl('redis+cluster://:hunter2@a:1,') } catch (err) { message = (err as Error).message }
  t.equal(message, 'REDIS_URL: a cluster node must be host:port', 'an empty node is refused, the URL (its password) never echoed')
})

t.test('the setting accepts both forms and refuses other schemes, naming the variable', async t => {
  t.equal(loadSettings(RedisSettingsSchema, { REDIS_URL: 'redis+cluster://a:1,b:2' }).REDIS_URL, 'redis+cluster://a:1,b:2')
  t.equal(loadSettings(RedisSettingsSchema, { REDIS_URL: 'rediss+cluster://a:1' }).REDIS_URL, 'rediss+cluster://a:1')
  t.throws(() => loadSettings(RedisSettingsSchema, { REDIS_URL: 'cluster://a:1' }), /REDIS_URL/)
})

t.test('the factory makes a Redis for one server and a Cluster for a cluster URL, options passed on', async t => {
  const single = createRedisConnection('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 0 })
  t.ok(single instanceof Redis)
  single.disconnect()
  const retry = (n: number) => n * 10
  const cluster = createRedisConnection('rediss+cluster://u:pw@127.0.0.1:7001', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: null, connectionName: 'x', retryStrategy: retry })
  t.ok(cluster instanceof Cluster)
  if (!(cluster instanceof Cluster)) return
  t.equal(cluster.options.lazyConnect, true, 'cluster-level options on the cluster')
  t.equal(cluster.options.enableOfflineQueue, false)
  t.equal(cluster.options.clusterRetryStrategy?.(3), 30, 'the retry strategy reconnects the cluster')
  t.match(cluster.options.redisOptions, { maxRetriesPerRequest: null, connectionName: 'x', username: 'u', password: 'pw', tls: {} }, 'per-connection options and credentials on every node')
  cluster.disconnect()
})
