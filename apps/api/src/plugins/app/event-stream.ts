import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket } from '@fastify/websocket'
import { EVENTS_GAP, sessionOf } from '@wss/shared'
import { parseSessionIds, SessionFilter, MAX_FILTER_SESSIONS } from '../../lib/session-filter.ts'
import { ADMIN_SCOPE, inScope, type KeyScope } from '../../lib/key-scope.ts'

export interface EventStream {
  /** Starts streaming events to an upgraded socket, filtered as asked and held to its key's scope. */
  attach: (socket: WebSocket, filter: SessionFilter, log: FastifyBaseLogger, scope?: KeyScope) => void
  /** How many clients are streaming now. */
  readonly size: number
}

declare module 'fastify' {
  interface FastifyInstance {
    eventStream: EventStream
  }
}

interface Client { socket: WebSocket, filter: SessionFilter, scope: KeyScope, alive: boolean, log: FastifyBaseLogger }

const HEARTBEAT_MS = 30_000
// A client this far behind is not reading; dropping it protects the node's memory.
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024
const INVALID_IDS = `sessionId must be one or more ids matching ^[A-Za-z0-9_-]{1,64}$ (at most ${MAX_FILTER_SESSIONS})`

function handleFrame (client: Client, raw: Buffer | ArrayBuffer | Buffer[]): void {
  const send = (value: unknown) => client.socket.send(JSON.stringify(value))
  let message: { action?: unknown, sessionId?: unknown }
  try {
    message = JSON.parse(Buffer.isBuffer(raw) ? raw.toString('utf8') : Buffer.from(raw as ArrayBuffer).toString('utf8'))
  } catch {
    send({ success: false, error: 'Frames must be JSON: {"action":"subscribe"|"unsubscribe","sessionId":"..."}', code: 'VALIDATION' })
    return
  }
  const action = message?.action
  if (action !== 'subscribe' && action !== 'unsubscribe') {
    send({ success: false, error: 'action must be "subscribe" or "unsubscribe"', code: 'VALIDATION' })
    return
  }
  const ids = parseSessionIds(message.sessionId)
  if (ids === null || (action === 'subscribe' && !client.filter.subscribe(ids))) {
    send({ success: false, action, error: INVALID_IDS, code: 'VALIDATION' })
    return
  }
  if (action === 'unsubscribe') client.filter.unsubscribe(ids)
  send({ success: true, action, data: client.filter.snapshot() })
}

/**
 * The plain WebSocket event stream behind `GET /api/events`: frames `{ event, data }`,
 * filtered per client, with a heartbeat that drops dead peers.
 */
export default fp(async function eventStream (fastify) {
  const clients = new Set<Client>()

  const stop = fastify.events.onEvent(event => {
    if (clients.size === 0) return
    const frame = JSON.stringify(event)
    for (const client of clients) {
      const sessionId = sessionOf(event)
      // An event of no session (webhook-disabled) goes to admin-key clients that take every session.
      const wanted = sessionId === null ? client.scope.admin && client.filter.all : client.filter.matches(sessionId) && inScope(client.scope, sessionId)
      if (!wanted || client.socket.readyState !== client.socket.OPEN) continue
      if (client.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
        client.log.warn('event stream client too slow, disconnecting')
        client.socket.terminate()
        continue
      }
      client.socket.send(frame)
    }
  })

  // A period this node may have missed events in concerns every client, whatever its filter.
  const stopGaps = fastify.events.onGap(gap => {
    const frame = JSON.stringify({ event: EVENTS_GAP, data: gap })
    for (const client of clients) if (client.socket.readyState === client.socket.OPEN) client.socket.send(frame)
  })

  const heartbeat = setInterval(() => {
    for (const client of clients) {
      if (!client.alive) {
        client.socket.terminate()
        continue
      }
      client.alive = false
      client.socket.ping()
    }
  }, HEARTBEAT_MS)
  heartbeat.unref()

  fastify.decorate('eventStream', {
    attach (socket, filter, log, scope = ADMIN_SCOPE) {
      const client: Client = { socket, filter, scope, alive: true, log }
      clients.add(client)
      socket.on('pong', () => { client.alive = true })
      socket.on('message', raw => handleFrame(client, raw))
      const release = scope.keyId === null ? () => {} : fastify.apiKeys.hold(scope.keyId)
      socket.on('close', () => { clients.delete(client); release() })
    },
    get size () { return clients.size }
  } satisfies EventStream)

  // A revoked key's streams end at once (close code 4401: the key no longer authenticates).
  const stopRevoked = fastify.apiKeys.onRevoked(keyId => {
    for (const client of clients) if (client.scope.keyId === keyId) client.socket.close(4401, 'API key revoked')
  })

  fastify.addHook('onClose', async () => {
    stop()
    stopRevoked()
    stopGaps()
    clearInterval(heartbeat)
    for (const client of clients) client.socket.terminate()
    clients.clear()
  })
}, { name: 'event-stream', dependencies: ['event-relay', 'api-keys'] })
