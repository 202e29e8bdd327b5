import t from 'tap'
import WebSocket from 'ws'
import { io as connect } from 'socket.io-client'
import { encodeBusEvent, EVENTS_GAP, type EventsGapPayload } from '@wss/shared'
import { baseUrl, build, createPublisher, KEY, nextValue, redisProxy } from '../../helper.ts'

// The chaos run (bench/chaos.ts) found events lost for clients that stayed connected while the
// node's Redis restarted: nothing told them. Now each client hears of the period (`events-gap`).
t.test('clients are told of a period in which their node could not receive events', async t => {
  const proxy = await redisProxy(t)
  const app = await build(t, { listen: true, env: { REDIS_URL: proxy.url } })
  const url = baseUrl(app)
  const socket = connect(url, { transports: ['websocket'], forceNew: true, auth: { apiKey: KEY } })
  t.teardown(() => { socket.disconnect() })
  const ws = new WebSocket(`${url.replace('http', 'ws')}/api/events`, { headers: { 'x-api-key': KEY } })
  t.teardown(() => { ws.terminate() })
  const frames: Array<{ event: string, data: any }> = []
  ws.on('message', raw => { frames.push(JSON.parse(String(raw))) })
  await Promise.all([nextValue<void>(cb => socket.once('connect', () => cb())), nextValue<void>(cb => ws.once('open', () => cb()))])

  const viaSocketIo = nextValue<EventsGapPayload>(cb => socket.once(EVENTS_GAP, cb), 20_000, 'events-gap on Socket.IO')
  const cutAt = Date.now()
  proxy.cut()
  await new Promise(resolve => setTimeout(resolve, 1000))
  proxy.restore()
  const gap = await viaSocketIo
  t.ok(Date.parse(gap.from) >= cutAt - 1000 && Date.parse(gap.from) < Date.parse(gap.to), `the period: ${gap.from} to ${gap.to}`)
  t.ok(socket.connected && ws.readyState === ws.OPEN, 'the clients stayed connected throughout')
  await nextValue<void>(cb => { const check = () => frames.some(f => f.event === EVENTS_GAP) ? cb() : setTimeout(check, 50); check() }, 10_000, 'events-gap on the WebSocket')
  t.same(frames.find(f => f.event === EVENTS_GAP)?.data, gap, 'the same notice on the plain WebSocket')

  // The subscription is back: events flow again.
  const publisher = await createPublisher(t)
  const next = nextValue<any>(cb => socket.once('statuses-updated', cb), 10_000, 'an event after the gap')
  await publisher.publish(app.events.channel, encodeBusEvent('statuses-updated', { sessionId: 'after-gap' }))
  t.same(await next, { sessionId: 'after-gap' })
})
