import fp from 'fastify-plugin'
import type { Socket } from 'socket.io'
import { ErrorMessages, EVENTS_GAP, sessionOf, type ErrorCode } from '@wss/shared'
import { extractApiKey } from '../../lib/api-key.ts'
import { parseSessionIds, SessionFilter, MAX_FILTER_SESSIONS } from '../../lib/session-filter.ts'
import { inScope, type KeyScope } from '../../lib/key-scope.ts'
import type { SocketData } from '../external/websocket.ts'

/** Room of clients that take every session's events. */
const ALL_SESSIONS_ROOM = 'sessions:*'
/** Room of scoped-key clients without a filter: each event is checked against each one's scope. */
const SCOPED_ALL_ROOM = 'scoped:*'
/** Room of clients that asked for one session's events. */
const sessionRoom = (sessionId: string) => `session:${sessionId}`

type Ack = (answer: unknown) => void
type ClientSocket = Socket<never, never, never, SocketData>

/** A connect_error the client can read: `err.message` and `err.data.code`. */
function refusal (code: ErrorCode, message: string = ErrorMessages[code]): Error & { data: { code: ErrorCode } } {
  return Object.assign(new Error(message), { data: { success: false, error: message, code } })
}

const INVALID_IDS = `sessionId must be one or more comma-separated ids matching ^[A-Za-z0-9_-]{1,64}$ (at most ${MAX_FILTER_SESSIONS})`

// The rooms mirror the filter, so one emit to (all-room ∪ session-room) reaches each client once.
// A scoped key joins only the rooms of its sessions, never the all-sessions room.
function syncRooms (socket: ClientSocket): void {
  const { filter, scope } = socket.data
  if (filter.all) {
    void socket.join(scope.sessions === 'all' ? ALL_SESSIONS_ROOM : SCOPED_ALL_ROOM)
    return
  }
  void socket.leave(ALL_SESSIONS_ROOM)
  void socket.leave(SCOPED_ALL_ROOM)
  const wanted = new Set(filter.sessionIds.filter(id => inScope(scope, id)).map(sessionRoom))
  for (const room of socket.rooms) {
    if (room.startsWith('session:') && !wanted.has(room)) void socket.leave(room)
  }
  void socket.join([...wanted])
}

/**
 * Socket.IO clients: the handshake needs the API key (`auth.apiKey`, `x-api-key` or Bearer);
 * `sessionId` in the handshake query, and `subscribe` / `unsubscribe` messages, narrow what
 * a client receives, and a scoped key never receives events beyond its sessions. Relays every
 * bus event to the rooms that want it.
 */
export default fp(async function socketIoRelay (fastify) {
  const { io } = fastify

  const log = fastify.log.child({ plugin: 'socket.io' })
  io.use((socket, next) => {
    const { auth, headers, query } = socket.handshake
    // A refused client is cut off once its connect_error is written (the engine flushes it first),
    // instead of holding its connection open until the ping timeout.
    const refuse = (err: Error & { data: { code: string } }) => {
      log.info({ socketId: socket.id, code: err.data.code }, 'socket.io client refused')
      next(err)
      setImmediate(() => socket.conn.close())
    }
    const key = typeof auth?.apiKey === 'string' ? auth.apiKey : extractApiKey(headers)
    const accept = (scope: KeyScope | null) => {
      if (scope === null) return refuse(refusal('UNAUTHORIZED'))
      let initial: string[] | null = null
      if (query.sessionId !== undefined) {
        initial = parseSessionIds(query.sessionId)
        if (initial === null) return refuse(refusal('VALIDATION', INVALID_IDS))
      }
      socket.data.filter = new SessionFilter(initial)
      socket.data.scope = scope
      next()
    }
    const scope = fastify.resolveApiKey(key)
    if (!(scope instanceof Promise)) return accept(scope)
    scope.then(accept, () => refuse(refusal('DEPENDENCY_UNAVAILABLE')))
  })

  io.on('connection', socket => {
    syncRooms(socket)
    const { keyId } = socket.data.scope
    if (keyId !== null) socket.once('disconnect', fastify.apiKeys.hold(keyId))
    const change = (action: 'subscribe' | 'unsubscribe') => (payload: unknown, ack?: Ack) => {
      const ids = parseSessionIds(payload)
      const reply = typeof ack === 'function' ? ack : () => {}
      if (ids === null) {
        reply({ success: false, error: INVALID_IDS, code: 'VALIDATION' })
        return
      }
      if (action === 'subscribe') {
        if (!socket.data.filter.subscribe(ids)) {
          reply({ success: false, error: INVALID_IDS, code: 'VALIDATION' })
          return
        }
      } else {
        socket.data.filter.unsubscribe(ids)
      }
      syncRooms(socket)
      reply({ success: true, data: socket.data.filter.snapshot() })
    }
    socket.on('subscribe', change('subscribe'))
    socket.on('unsubscribe', change('unsubscribe'))
  })

  const stop = fastify.events.onEvent(busEvent => {
    const { event, data } = busEvent
    const sessionId = sessionOf(busEvent)
    if (sessionId === null) {
      // An event of no session (webhook-disabled) goes to admin-key clients that take every session.
      for (const id of io.sockets.adapter.rooms.get(ALL_SESSIONS_ROOM) ?? []) {
        const socket = io.sockets.sockets.get(id)
        if (socket?.data.scope.admin === true) socket.emit(event, data)
      }
      return
    }
    io.to(ALL_SESSIONS_ROOM).to(sessionRoom(sessionId)).emit(event, data)
    for (const id of io.sockets.adapter.rooms.get(SCOPED_ALL_ROOM) ?? []) {
      const socket = io.sockets.sockets.get(id)
      if (socket !== undefined && inScope(socket.data.scope, sessionId)) socket.emit(event, data)
    }
  })
  // A revoked key's sockets are disconnected at once.
  const stopRevoked = fastify.apiKeys.onRevoked(keyId => {
    for (const socket of io.sockets.sockets.values()) if (socket.data.scope?.keyId === keyId) socket.disconnect(true)
  })
  // A period this node may have missed events in concerns every client, whatever its filter.
  const stopGaps = fastify.events.onGap(gap => { io.emit(EVENTS_GAP, gap) })
  fastify.addHook('onClose', async () => { stop(); stopRevoked(); stopGaps() })
}, { name: 'socket-io-relay', dependencies: ['websocket', 'event-relay', 'auth', 'api-keys'] })
