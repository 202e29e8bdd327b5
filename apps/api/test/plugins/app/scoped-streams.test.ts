import t from 'tap'
import WebSocket from 'ws'
import { io as connect, type Socket } from 'socket.io-client'
import { encodeBusEvent } from '@wss/shared'
import { auth, baseUrl, build, createPublisher, KEY, nextValue, testDatabase } from '../../helper.ts'
import { createKey } from '../../key-helper.ts'

/** Both event streams hold a scoped key to its sessions, whatever it subscribes to. */
const db = await testDatabase(t)
const app = await build(t, { db, listen: true })
const publisher = await createPublisher(t)
type Tap = Parameters<typeof build>[0]

const publish = (sessionId: string) => publisher.publish(app.events.channel, encodeBusEvent('statuses-updated', { sessionId }))

function ioClient (t: Tap, apiKey: string, query?: Record<string, string>): Socket {
  const socket = connect(baseUrl(app), { transports: ['websocket'], reconnection: false, forceNew: true, auth: { apiKey }, query })
  t.teardown(() => { socket.disconnect() })
  return socket
}

async function ioConnected (socket: Socket): Promise<string[]> {
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', reject)
  })
  const seen: string[] = []
  socket.onAny((_event: string, data: { sessionId: string }) => { seen.push(data.sessionId) })
  return seen
}

function wsClient (t: Tap, apiKey: string, query = '', node = app): WebSocket {
  const ws = new WebSocket(`${baseUrl(node).replace('http', 'ws')}/api/events${query}`, { headers: { 'x-api-key': apiKey } })
  ws.on('error', () => {})
  t.teardown(() => { ws.terminate() })
  return ws
}

async function wsOpened (ws: WebSocket): Promise<string[]> {
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
  })
  const seen: string[] = []
  ws.on('message', raw => {
    const frame = JSON.parse(raw.toString()) as { event?: string, data?: { sessionId?: string } }
    if (frame.event !== undefined && frame.data?.sessionId !== undefined) seen.push(frame.data.sessionId)
  })
  return seen
}

/** Resolves once `seen` holds `sessionId` (pub/sub keeps order: every earlier event has arrived by then). */
async function until (seen: string[], sessionId: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!seen.includes(sessionId)) {
    if (Date.now() > deadline) throw new Error(`no event for ${sessionId}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

t.test('an event of another session never reaches a scoped client, on either stream', async t => {
  const { key } = await createKey(app, { sessions: ['acme-*', 'solo'], access: 'read' })
  const clients = {
    io: await ioConnected(ioClient(t, key)),
    // Asking for the other sessions by name changes nothing.
    ioAsking: await ioConnected(ioClient(t, key, { sessionId: 'globex-1,acme-1,solo' })),
    ws: await wsOpened(wsClient(t, key)),
    wsAsking: await wsOpened(wsClient(t, key, '?sessionId=globex-1,acme-1,solo')),
    admin: await ioConnected(ioClient(t, KEY))
  }
  for (const id of ['globex-1', 'acme-1', 'acmeX-1', 'solo-2', 'solo']) await publish(id)
  await Promise.all(Object.values(clients).map(seen => until(seen, 'solo')))
  for (const [name, seen] of Object.entries(clients)) {
    if (name === 'admin') continue
    t.same(seen, ['acme-1', 'solo'], `${name}: only its sessions`)
  }
  t.same(clients.admin, ['globex-1', 'acme-1', 'acmeX-1', 'solo-2', 'solo'], 'an admin key receives every session')
})

t.test('subscribing to another session later delivers nothing of it', async t => {
  const { key } = await createKey(app, { sessions: ['acme-*'], access: 'write' })
  const socket = ioClient(t, key)
  const seenIo = await ioConnected(socket)
  t.same(await socket.emitWithAck('subscribe', 'globex-2'), { success: true, data: { all: false, sessionIds: ['globex-2'] } },
    'answered as for any session id (existence is not revealed)')
  t.same(await socket.emitWithAck('subscribe', 'acme-2'), { success: true, data: { all: false, sessionIds: ['globex-2', 'acme-2'] } })
  const ws = wsClient(t, key)
  const seenWs = await wsOpened(ws)
  ws.send(JSON.stringify({ action: 'subscribe', sessionId: 'globex-2,acme-2' }))
  await nextValue<void>(done => ws.on('message', raw => { if (JSON.parse(raw.toString()).action === 'subscribe') done() }), 10_000, 'reply')
  for (const id of ['globex-2', 'acme-2']) await publish(id)
  await Promise.all([until(seenIo, 'acme-2'), until(seenWs, 'acme-2')])
  t.same(seenIo, ['acme-2'])
  t.same(seenWs, ['acme-2'])
})

/** A Socket.IO client and a WebSocket of this key, open; resolves when each is ended (and the close code). */
async function openStreams (t: Parameters<typeof ioClient>[0], key: string, ms: number) {
  const socket = ioClient(t, key)
  await ioConnected(socket)
  const ws = wsClient(t, key)
  await wsOpened(ws)
  const disconnected = nextValue<void>(done => socket.on('disconnect', () => done()), ms, 'disconnect')
  const closed = nextValue<number>(done => ws.on('close', code => done(code)), ms, 'close')
  return { disconnected, closed }
}

t.test('revoking a key closes its open streams and refuses new ones', async t => {
  const { id, key } = await createKey(app, { sessions: 'all', access: 'read' })
  const { disconnected, closed } = await openStreams(t, key, 10_000)
  t.equal((await app.inject({ method: 'DELETE', url: `/api/keys/${id}`, headers: auth })).statusCode, 200)
  await disconnected
  t.equal(await closed, 4401, 'the WebSocket says why')

  const again = ioClient(t, key)
  const err = await new Promise<Error & { data?: { code?: string } }>((resolve, reject) => {
    again.once('connect', () => reject(new Error('connected with a revoked key')))
    again.once('connect_error', resolve)
  })
  t.equal(err.data?.code, 'UNAUTHORIZED')
  const refused = await new Promise<number>(resolve => wsClient(t, key).once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)))
  t.equal(refused, 401)
})

t.test('a revocation on one node closes the key\'s streams on every node', async t => {
  const other = await build(t, { db, listen: true, env: { REDIS_PREFIX: app.config.REDIS_PREFIX } })
  const { id, key } = await createKey(app, { sessions: 'all', access: 'read' })
  const ws = wsClient(t, key, '', other)
  await wsOpened(ws)
  const closed = nextValue<number>(done => ws.on('close', code => done(code)), 10_000, 'close on the other node')
  t.equal((await app.inject({ method: 'DELETE', url: `/api/keys/${id}`, headers: auth })).statusCode, 200)
  t.equal(await closed, 4401, 'closed on the node that did not revoke it')
})

t.test('a key gone without an announcement (Redis lost it) still ends its streams', async t => {
  const { id, key } = await createKey(app, { sessions: 'all', access: 'read' })
  const { disconnected, closed } = await openStreams(t, key, 20_000)
  await db.prisma.apiKey.delete({ where: { id } })
  await disconnected
  t.equal(await closed, 4401)
})

t.test('an unknown key shaped like a scoped one is refused', async t => {
  const socket = ioClient(t, `wss_${'A'.repeat(43)}`)
  const err = await new Promise<Error & { data?: { code?: string } }>((resolve, reject) => {
    socket.once('connect', () => reject(new Error('connected')))
    socket.once('connect_error', resolve)
  })
  t.equal(err.data?.code, 'UNAUTHORIZED')
})
