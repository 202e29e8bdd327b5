import t from 'tap'
import WebSocket from 'ws'
import type { FastifyInstance } from 'fastify'
import { encodeBusEvent } from '@wss/shared'
import { baseUrl, build, createPublisher, KEY, nextValue, ROTATED_KEY } from '../../helper.ts'

type Tap = Parameters<typeof build>[0]
interface Frame { event?: string, data?: { sessionId?: string }, success?: boolean, action?: string, code?: string }

function open (t: Tap, app: FastifyInstance, query = '', headers: Record<string, string> = {}): WebSocket {
  const ws = new WebSocket(`${baseUrl(app).replace('http', 'ws')}/api/events${query}`, { headers })
  // Refused upgrades end in an 'error' after the test has read the response.
  ws.on('error', () => {})
  t.teardown(() => { ws.terminate() })
  return ws
}

async function opened (ws: WebSocket): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
  })
}

/** The HTTP status the upgrade was refused with, and its body. */
async function rejected (ws: WebSocket): Promise<{ status: number, body: unknown }> {
  return await new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('upgrade succeeded')))
    ws.once('unexpected-response', (_req, res) => {
      let raw = ''
      res.on('data', (chunk: Buffer) => { raw += chunk.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(raw) }))
    })
  })
}

function frames (ws: WebSocket): Frame[] {
  const seen: Frame[] = []
  ws.on('message', raw => { seen.push(JSON.parse(raw.toString())) })
  return seen
}

const nextFrame = (ws: WebSocket, match: (f: Frame) => boolean, what: string) =>
  nextValue<Frame>(done => ws.on('message', raw => {
    const frame = JSON.parse(raw.toString()) as Frame
    if (match(frame)) done(frame)
  }), 2000, what)

const eventFor = (ws: WebSocket, sessionId: string) => nextFrame(ws, f => f.data?.sessionId === sessionId && f.event !== undefined, `event for ${sessionId}`)

async function request (ws: WebSocket, message: unknown): Promise<Frame> {
  const reply = nextFrame(ws, f => f.event === undefined, 'reply')
  ws.send(JSON.stringify(message))
  return await reply
}

const statusesUpdated = (sessionId: string) => encodeBusEvent('statuses-updated', { sessionId })

t.test('the upgrade is refused without a valid key', async t => {
  const app = await build(t, { listen: true })
  const none = await rejected(open(t, app))
  t.equal(none.status, 401)
  t.match(none.body, { success: false, code: 'UNAUTHORIZED' })
  t.equal((await rejected(open(t, app, '', { 'x-api-key': 'wrong' }))).status, 401)
  t.equal((await rejected(open(t, app, '?apiKey=wrong'))).status, 401)
})

t.test('the upgrade accepts x-api-key, Bearer and ?apiKey=', async t => {
  const app = await build(t, { listen: true })
  await opened(open(t, app, '', { 'x-api-key': KEY }))
  await opened(open(t, app, '', { authorization: `Bearer ${ROTATED_KEY}` }))
  await opened(open(t, app, `?apiKey=${KEY}`))
  t.pass('all three opened')
})

t.test('an event published on Redis arrives as a { event, data } frame', async t => {
  const app = await build(t, { listen: true })
  const publisher = await createPublisher(t)
  const ws = open(t, app, '', { 'x-api-key': KEY })
  await opened(ws)
  const frame = eventFor(ws, 'shop-1')
  await publisher.publish(app.events.channel, '{"event":"pairing-code","data":{"sessionId":"shop-1"}}')
  const payload = { sessionId: 'shop-1', pairingCode: 'ABCD1234', phoneNumber: '15551234567' }
  await publisher.publish(app.events.channel, encodeBusEvent('pairing-code', payload))
  t.same(await frame, { event: 'pairing-code', data: payload }, 'the invalid message was dropped')
})

t.test('?sessionId= limits the stream to those sessions', async t => {
  const app = await build(t, { listen: true })
  const publisher = await createPublisher(t)
  const one = open(t, app, '?sessionId=s1', { 'x-api-key': KEY })
  const two = open(t, app, '?sessionId=s2,s3', { 'x-api-key': KEY })
  const all = open(t, app, '', { 'x-api-key': KEY })
  await Promise.all([opened(one), opened(two), opened(all)])
  const seen = { one: frames(one), two: frames(two), all: frames(all) }

  const done = Promise.all([eventFor(one, 's1'), eventFor(two, 's3'), eventFor(all, 's3')])
  for (const id of ['s4', 's2', 's1', 's3']) await publisher.publish(app.events.channel, statusesUpdated(id))
  await done

  const ids = (list: Frame[]) => list.map(f => f.data?.sessionId)
  t.same(ids(seen.one), ['s1'])
  t.same(ids(seen.two), ['s2', 's3'])
  t.same(ids(seen.all), ['s4', 's2', 's1', 's3'])
})

t.test('a malformed ?sessionId= is a 400 before the upgrade', async t => {
  const app = await build(t, { listen: true })
  const res = await rejected(open(t, app, '?sessionId=a%20b', { 'x-api-key': KEY }))
  t.equal(res.status, 400)
  t.match(res.body, { success: false, code: 'VALIDATION', details: [{ field: 'querystring.sessionId' }] })
})

t.test('subscribe and unsubscribe frames change the filter', async t => {
  const app = await build(t, { listen: true })
  const publisher = await createPublisher(t)
  const ws = open(t, app, '', { 'x-api-key': KEY })
  await opened(ws)
  const seen = frames(ws)
  const eventIds = () => seen.filter(f => f.event !== undefined).map(f => f.data?.sessionId)

  t.same(await request(ws, { action: 'subscribe', sessionId: 's1' }), { success: true, action: 'subscribe', data: { all: false, sessionIds: ['s1'] } })
  let done = eventFor(ws, 's1')
  for (const id of ['s2', 's1']) await publisher.publish(app.events.channel, statusesUpdated(id))
  await done
  t.same(eventIds(), ['s1'])

  await request(ws, { action: 'subscribe', sessionId: 's2' })
  t.same(await request(ws, { action: 'unsubscribe', sessionId: 's1' }), { success: true, action: 'unsubscribe', data: { all: false, sessionIds: ['s2'] } })
  seen.length = 0
  done = eventFor(ws, 's2')
  for (const id of ['s1', 's3', 's2']) await publisher.publish(app.events.channel, statusesUpdated(id))
  await done
  t.same(eventIds(), ['s2'])

  t.match(await request(ws, { action: 'subscribe', sessionId: 'bad id' }), { success: false, code: 'VALIDATION' })
  t.match(await request(ws, { action: 'dance' }), { success: false, code: 'VALIDATION' })
  t.match(await request(ws, 'not an object'), { success: false, code: 'VALIDATION' })
  const raw = nextFrame(ws, f => f.success === false, 'reply to non-JSON')
  ws.send('{nope')
  t.match(await raw, { success: false, code: 'VALIDATION' })
})

t.test('Socket.IO and the WebSocket stream share one server', async t => {
  const app = await build(t, { listen: true })
  const ws = open(t, app, '', { 'x-api-key': KEY })
  await opened(ws)
  const res = await fetch(`${baseUrl(app)}/socket.io/?EIO=4&transport=polling`)
  t.equal(res.status, 200, 'Socket.IO answers its own path')
  await res.text()
})
