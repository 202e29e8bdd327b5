import { EventEmitter } from 'node:events'
import type { Server as HttpServer } from 'node:http'
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import { Server } from 'socket.io'
import type { SessionFilter } from '../../lib/session-filter.ts'
import type { KeyScope } from '../../lib/key-scope.ts'

/** Per-socket state of a Socket.IO client. */
export interface SocketData {
  filter: SessionFilter
  /** What the handshake's key may see. */
  scope: KeyScope
}

type AnyEvents = Record<string, (...args: any[]) => void>
export type IoServer = Server<AnyEvents, AnyEvents, AnyEvents, SocketData>

declare module 'fastify' {
  interface FastifyInstance {
    io: IoServer
  }
}

const SOCKET_IO_PATH = '/socket.io'

/**
 * @fastify/websocket and Socket.IO on one HTTP server. Both listen for `upgrade`, so they
 * are split by path: Socket.IO (attached with `destroyUpgrade: false`) takes `/socket.io/`,
 * and @fastify/websocket listens on an emitter that only receives the other upgrades.
 */
export default fp(async function websocketPlugin (fastify) {
  const otherUpgrades = new EventEmitter()
  await fastify.register(websocket, {
    options: {
      server: otherUpgrades as unknown as HttpServer,
      maxPayload: 64 * 1024
    }
  })

  const io: IoServer = new Server(fastify.server, {
    path: SOCKET_IO_PATH,
    serveClient: false,
    destroyUpgrade: false,
    maxHttpBufferSize: 64 * 1024,
    // A connection that never joins a namespace (never authenticates) is closed after this long.
    connectTimeout: 10_000
  })
  const socketIoPrefix = `${SOCKET_IO_PATH}/`
  fastify.server.on('upgrade', (request, socket, head) => {
    if (request.url?.startsWith(socketIoPrefix) === true) return
    otherUpgrades.emit('upgrade', request, socket, head)
  })
  fastify.decorate('io', io)

  // Before the HTTP server stops accepting: open sockets would otherwise hold close() up.
  // io.close() is not used, as it would also close Fastify's server behind its back. Only the
  // transports are closed: a client then reconnects by itself (to this node once it is back, or
  // another behind the same address), where disconnectSockets() would tell it the server dismissed
  // it ("io server disconnect"), after which Socket.IO clients never reconnect.
  fastify.addHook('preClose', async () => {
    io.engine.close()
  })
}, { name: 'websocket' })
