import t from 'tap'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { io as connect } from 'socket.io-client'
import { createRedisConnection, encodeBusEvent, EVENTS_GAP, type EventsGapPayload } from '@wss/shared'
import { baseUrl, build, KEY, nextValue } from '../../helper.ts'

// On a Redis Cluster the node's subscription is one connection to one cluster node, which ioredis
// silently replaces when it ends: the cluster client itself never disconnects. Events published in
// between were lost with no `events-gap` (found in review of the cluster work). A cluster of this
// test's own (scripts/redis-cluster.sh), so cutting its pub/sub connections touches no other test.
const script = fileURLToPath(new URL('../../../../../scripts/redis-cluster.sh', import.meta.url))
const BASE = '7500'
const url = execFileSync('bash', [script, 'start', BASE], { encoding: 'utf8' }).trim()
t.teardown(() => { execFileSync('bash', [script, 'stop', BASE]) })
const ports = [7501, 7502, 7503]

/** Cuts every pub/sub connection on every node, as a failing node would; returns how many were cut. */
function cutSubscriptions (): number {
  return ports.reduce((sum, port) => sum + Number(execFileSync('redis-cli', ['-p', String(port), 'client', 'kill', 'type', 'pubsub'], { encoding: 'utf8' }).trim()), 0)
}

t.test('a client is told of the period its node lost the subscription to a cluster node', async t => {
  const app = await build(t, { listen: true, env: { REDIS_URL: url } })
  await app.events.subscribed()
  const socket = connect(baseUrl(app), { transports: ['websocket'], forceNew: true, auth: { apiKey: KEY } })
  t.teardown(() => { socket.disconnect() })
  await nextValue<void>(cb => socket.once('connect', () => cb()))
  const publisher = createRedisConnection(url, { maxRetriesPerRequest: 1 })
  t.teardown(() => { publisher.disconnect() })

  const before = nextValue<any>(cb => socket.once('statuses-updated', cb), 10_000, 'an event before the cut')
  await publisher.publish(app.events.channel, encodeBusEvent('statuses-updated', { sessionId: 'before' }))
  t.same(await before, { sessionId: 'before' }, 'events flow through the cluster')

  const gapNotice = nextValue<EventsGapPayload>(cb => socket.once(EVENTS_GAP, cb), 20_000, 'events-gap after the cut')
  const cutAt = Date.now()
  t.ok(cutSubscriptions() >= 1, 'the node\'s subscription connection was cut')
  const gap = await gapNotice
  t.ok(Date.parse(gap.from) >= cutAt - 1000 && Date.parse(gap.from) <= Date.parse(gap.to), `the period: ${gap.from} to ${gap.to}`)
  t.ok(socket.connected, 'the client stayed connected')

  const after = nextValue<any>(cb => socket.once('statuses-updated', cb), 10_000, 'an event after the gap')
  await publisher.publish(app.events.channel, encodeBusEvent('statuses-updated', { sessionId: 'after' }))
  t.same(await after, { sessionId: 'after' }, 'the subscription is back on another connection')
})
