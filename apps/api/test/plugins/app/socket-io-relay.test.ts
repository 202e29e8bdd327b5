import t from 'tap'
import { io as connect, type Socket } from 'socket.io-client'
import type { FastifyInstance } from 'fastify'
import { encodeBusEvent, sessionOf, type BusEvent } from '@wss/shared'
import { baseUrl, build, createPublisher, KEY, nextValue, ROTATED_KEY } from '../../helper.ts'

type Tap = Parameters<typeof build>[0]

interface ClientOptions { auth?: Record<string, unknown>, headers?: Record<string, string>, query?: Record<string, string> }

function client (t: Tap, app: FastifyInstance, options: ClientOptions = {}): Socket {
  const socket = connect(baseUrl(app), {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth: options.auth ?? {},
    extraHeaders: options.headers,
    query: options.query
  })
  t.teardown(() => { socket.disconnect() })
  return socket
}

async function connected (socket: Socket): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', reject)
  })
}

async function refused (socket: Socket): Promise<Error & { data?: { code?: string } }> {
  return await new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error('connected without a valid key')))
    socket.once('connect_error', resolve)
  })
}

/** Records every contract event a client receives, in order. */
function record (socket: Socket): BusEvent[] {
  const seen: BusEvent[] = []
  socket.onAny((event: string, data: unknown) => { seen.push({ event, data } as BusEvent) })
  return seen
}

const statusesUpdated = (sessionId: string) => encodeBusEvent('statuses-updated', { sessionId })

/** Resolves once `socket` has received an event for `sessionId`. */
const eventFor = (socket: Socket, sessionId: string) =>
  nextValue<void>(done => socket.onAny((_event: string, data: { sessionId?: string }) => { if (data?.sessionId === sessionId) done() }), 10_000, `event for ${sessionId}`)

t.test('the handshake is refused without a valid key', async t => {
  const app = await build(t, { listen: true })
  const none = await refused(client(t, app))
  t.equal(none.message, 'Missing or invalid API key')
  t.equal(none.data?.code, 'UNAUTHORIZED')
  const wrong = await refused(client(t, app, { auth: { apiKey: 'wrong' } }))
  t.equal(wrong.data?.code, 'UNAUTHORIZED')
  const wrongHeader = await refused(client(t, app, { headers: { 'x-api-key': 'wrong' } }))
  t.equal(wrongHeader.data?.code, 'UNAUTHORIZED')
})

t.test('the handshake accepts auth.apiKey, x-api-key and Bearer, and any configured key', async t => {
  const app = await build(t, { listen: true })
  await connected(client(t, app, { auth: { apiKey: KEY } }))
  await connected(client(t, app, { auth: { apiKey: ROTATED_KEY } }))
  await connected(client(t, app, { headers: { 'x-api-key': KEY } }))
  await connected(client(t, app, { headers: { authorization: `Bearer ${ROTATED_KEY}` } }))
  t.pass('all four connected')
})

t.test('an event published on Redis by another process reaches the client', async t => {
  const app = await build(t, { listen: true })
  const publisher = await createPublisher(t)
  const socket = client(t, app, { auth: { apiKey: KEY } })
  await connected(socket)

  const received = nextValue<unknown>(cb => socket.on('connection-status', cb), 10_000, 'connection-status')
  await publisher.publish(app.events.channel, 'not json')
  await publisher.publish(app.events.channel, JSON.stringify({ event: 'connection-status', data: { connected: true } }))
  const payload = { sessionId: 'shop-1', connected: true, ownNumber: '15551234567', status: 'connected' as const }
  await publisher.publish(app.events.channel, encodeBusEvent('connection-status', payload))
  t.same(await received, payload, 'invalid messages are dropped, the valid one arrives intact')
})

t.test('every API node delivers every event', async t => {
  const nodeA = await build(t, { listen: true })
  const nodeB = await build(t, { listen: true, env: { REDIS_PREFIX: nodeA.config.REDIS_PREFIX } })
  const publisher = await createPublisher(t)
  const onA = client(t, nodeA, { auth: { apiKey: KEY } })
  const onB = client(t, nodeB, { auth: { apiKey: KEY } })
  await Promise.all([connected(onA), connected(onB)])
  const both = Promise.all([eventFor(onA, 'shared-1'), eventFor(onB, 'shared-1')])
  await publisher.publish(nodeA.events.channel, statusesUpdated('shared-1'))
  await both
  t.pass('both nodes relayed the event')
})

t.test('sessionId in the handshake query limits the client to those sessions', async t => {
  const app = await build(t, { listen: true })
  const publisher = await createPublisher(t)
  const one = client(t, app, { auth: { apiKey: KEY }, query: { sessionId: 's1' } })
  const two = client(t, app, { auth: { apiKey: KEY }, query: { sessionId: 's2,s3' } })
  const all = client(t, app, { auth: { apiKey: KEY } })
  await Promise.all([connected(one), connected(two), connected(all)])
  const seen = { one: record(one), two: record(two), all: record(all) }

  // Pub/sub keeps order, so once a client has its last expected event it has had every earlier one.
  const done = Promise.all([eventFor(one, 's1'), eventFor(two, 's3'), eventFor(all, 's3')])
  for (const id of ['s4', 's2', 's1', 's3']) await publisher.publish(app.events.channel, statusesUpdated(id))
  await done

  const ids = (events: BusEvent[]) => events.map(e => sessionOf(e))
  t.same(ids(seen.one), ['s1'])
  t.same(ids(seen.two), ['s2', 's3'])
  t.same(ids(seen.all), ['s4', 's2', 's1', 's3'])
})

t.test('a malformed sessionId in the handshake is refused', async t => {
  const app = await build(t, { listen: true })
  const err = await refused(client(t, app, { auth: { apiKey: KEY }, query: { sessionId: 'no spaces' } }))
  t.equal(err.data?.code, 'VALIDATION')
})

t.test('subscribe and unsubscribe messages change the filter', async t => {
  const app = await build(t, { listen: true })
  const publisher = await createPublisher(t)
  const socket = client(t, app, { auth: { apiKey: KEY } })
  await connected(socket)
  const seen = record(socket)
  const ids = () => seen.map(e => sessionOf(e))

  t.same(await socket.emitWithAck('subscribe', 's1'), { success: true, data: { all: false, sessionIds: ['s1'] } })
  let done = eventFor(socket, 's1')
  for (const id of ['s2', 's1']) await publisher.publish(app.events.channel, statusesUpdated(id))
  await done
  t.same(ids(), ['s1'], 'the first subscribe narrows an unfiltered client')

  t.same(await socket.emitWithAck('subscribe', { sessionId: 's2' }), { success: true, data: { all: false, sessionIds: ['s1', 's2'] } })
  t.same(await socket.emitWithAck('unsubscribe', { sessionId: 's1' }), { success: true, data: { all: false, sessionIds: ['s2'] } })
  seen.length = 0
  done = eventFor(socket, 's2')
  for (const id of ['s1', 's3', 's2']) await publisher.publish(app.events.channel, statusesUpdated(id))
  await done
  t.same(ids(), ['s2'])

  const bad = await socket.emitWithAck('subscribe', { sessionId: '../etc' })
  t.match(bad, { success: false, code: 'VALIDATION' })
  socket.emit('subscribe', 's9') // without an ack callback: still applied
  t.same(await socket.emitWithAck('unsubscribe', 's9'), { success: true, data: { all: false, sessionIds: ['s2'] } })
})
