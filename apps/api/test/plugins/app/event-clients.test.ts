import { PassThrough } from 'node:stream'
import t from 'tap'
import WebSocket from 'ws'
import { io as connect, type Socket } from 'socket.io-client'
import type { FastifyInstance } from 'fastify'
import { auth, baseUrl, build, KEY, sleep } from '../../helper.ts'

type Tap = Parameters<typeof build>[0]

function client (t: Tap, app: FastifyInstance, apiKey?: string, query?: Record<string, string>): Socket {
  const socket = connect(baseUrl(app), { transports: ['websocket'], reconnection: false, forceNew: true, auth: apiKey === undefined ? {} : { apiKey }, query })
  t.teardown(() => { socket.disconnect() })
  return socket
}

/** 'connected', or the connect_error's message. */
const outcome = (socket: Socket) => new Promise<string>(resolve => {
  socket.once('connect', () => resolve('connected'))
  socket.once('connect_error', err => resolve(err.message))
})

async function until (what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await sleep(50)
  }
}

function webSocket (t: Tap, app: FastifyInstance): Promise<{ status: number, body?: unknown }> {
  const ws = new WebSocket(`${baseUrl(app).replace('http', 'ws')}/api/events`, { headers: auth })
  ws.on('error', () => {})
  t.teardown(() => { ws.terminate() })
  return new Promise(resolve => {
    ws.once('open', () => resolve({ status: 101 }))
    ws.once('unexpected-response', (_req, res) => {
      let raw = ''
      res.on('data', (chunk: Buffer) => { raw += chunk.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(raw) }))
    })
  })
}

t.test('a refused Socket.IO client is disconnected at once, not after the ping timeout', async t => {
  const app = await build(t, { listen: true })
  // A raw engine.io client that, unlike socket.io-client, does not hang up by itself after the refusal.
  const ws = new WebSocket(`${baseUrl(app).replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`)
  t.teardown(() => { ws.terminate() })
  const received: string[] = []
  ws.on('message', raw => {
    const packet = raw.toString()
    received.push(packet)
    if (packet.startsWith('0')) ws.send('40{"apiKey":"wrong-key-wrong-key"}')
  })
  const closed = new Promise<void>(resolve => ws.once('close', () => resolve()))
  await Promise.race([closed, sleep(10_000).then(() => { throw new Error('still open after 10 s') })])
  t.ok(received.some(p => p.startsWith('44') && p.includes('UNAUTHORIZED')), 'the refusal was delivered before the close')
  t.equal(app.io.engine.clientsCount, 0)
})

t.test('Socket.IO handshakes count against the per-IP rate limit, with HTTP requests', async t => {
  const app = await build(t, { listen: true, env: { RATE_LIMIT_MAX: '2' } })
  t.equal(await outcome(client(t, app, KEY)), 'connected')
  t.equal(await outcome(client(t, app, 'wrong-key-wrong-key')), 'Missing or invalid API key')
  t.not(await outcome(client(t, app, KEY)), 'connected', 'the third handshake is refused')
  const http = await app.inject({ method: 'GET', url: '/api/health', headers: auth })
  t.equal(http.statusCode, 429, 'the handshakes used the same counter as HTTP requests')
})

t.test('MAX_EVENT_CLIENTS bounds Socket.IO and WebSocket clients together', async t => {
  const app = await build(t, { listen: true, env: { MAX_EVENT_CLIENTS: '2' } })
  t.equal(await outcome(client(t, app, KEY)), 'connected')
  t.equal((await webSocket(t, app)).status, 101)
  t.not(await outcome(client(t, app, KEY)), 'connected', 'a third Socket.IO client is refused')
  const ws = await webSocket(t, app)
  t.equal(ws.status, 503)
  t.match(ws.body, { success: false, code: 'TOO_MANY_CLIENTS' })
})

t.test('handshakes are logged with the address, never the key', async t => {
  const stream = new PassThrough()
  let output = ''
  stream.on('data', chunk => { output += chunk.toString() })
  const app = await build(t, { listen: true, logStream: stream, env: { LOG_LEVEL: 'info' } })
  t.equal(await outcome(client(t, app, KEY, { apiKey: KEY })), 'connected')
  t.equal(await outcome(client(t, app, `${KEY}-wrong`)), 'Missing or invalid API key')
  await until('both handshakes logged', () => output.includes('socket.io client refused'))
  t.match(output, /"remoteAddress":"127\.0\.0\.1".*"msg":"socket.io handshake"/)
  t.notOk(output.includes(KEY), 'no key in the logs')
})
