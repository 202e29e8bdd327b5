import t from 'tap'
import WebSocket from 'ws'
import { io as connect } from 'socket.io-client'
import { baseUrl, build, KEY, nextValue, settlesWithin } from './helper.ts'

t.test('close() ends Socket.IO and WebSocket clients promptly', async t => {
  const app = await build(t, { listen: true })
  const url = baseUrl(app)
  const socket = connect(url, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { apiKey: KEY } })
  t.teardown(() => { socket.disconnect() })
  const ws = new WebSocket(`${url.replace('http', 'ws')}/api/events`, { headers: { 'x-api-key': KEY } })
  ws.on('error', () => {})
  t.teardown(() => { ws.terminate() })
  await Promise.all([
    nextValue<void>(cb => socket.once('connect', () => cb())),
    nextValue<void>(cb => ws.once('open', () => cb()))
  ])

  const socketGone = nextValue<string>(cb => socket.once('disconnect', cb), 10_000, 'socket.io disconnect')
  const wsGone = nextValue<number>(cb => ws.once('close', cb), 10_000, 'websocket close')
  app.readiness.markUnready()
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503, 'unready before intake stops')
  // The clients never leave by themselves: a close that waited on them would never end.
  await settlesWithin(app.close(), 10_000, 'close with clients still connected')
  await socketGone
  await wsGone
  t.not(app.server.listening, true, 'no longer listening')
})

t.test('a Socket.IO client of a node that shuts down reconnects by itself to the node started in its place', async t => {
  const first = await build(t, { listen: true })
  const url = baseUrl(first)
  const port = Number(new URL(url).port)
  // A client with Socket.IO's defaults: it reconnects after a transport close, never after a
  // disconnect the server asked for ("io server disconnect").
  const socket = connect(url, { transports: ['websocket'], forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500, auth: { apiKey: KEY } })
  t.teardown(() => { socket.disconnect() })
  await nextValue<void>(cb => socket.once('connect', () => cb()))
  const gone = nextValue<string>(cb => socket.once('disconnect', cb), 10_000, 'socket.io disconnect')
  await first.close()
  t.not(await gone, 'io server disconnect', 'the shutdown closes the transport, it does not dismiss the client')

  const second = await build(t, { listen: port })
  t.equal(baseUrl(second), url)
  await nextValue<void>(cb => socket.once('connect', () => cb()), 15_000, 'socket.io reconnect to the new node')
  t.ok(socket.connected, 'connected to the node that took the old one\'s place')
})
