import type { IncomingMessage } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { AppError, ErrorMessages } from '@wss/shared'
import { rawClientAddress, trustFunction } from '../../lib/client-address.ts'

export interface EventClients {
  /** Socket.IO connections and WebSocket streams open now. */
  readonly count: number
  /** Throws 503 `TOO_MANY_CLIENTS` when MAX_EVENT_CLIENTS are connected (before a WebSocket upgrade). */
  admit: () => void
}

declare module 'fastify' {
  interface FastifyInstance {
    eventClients: EventClients
  }
}

/**
 * Admission of event clients, Socket.IO and WebSocket together, up to MAX_EVENT_CLIENTS.
 * The WebSocket upgrade passes the `/api` hooks (rate limit, key) and then {@link EventClients.admit}.
 * A Socket.IO handshake bypasses Fastify, so engine.io's `allowRequest` (run once per new
 * connection, not per poll) applies the same per-IP limiter, counting into the same counter,
 * and the same bound; every handshake is logged with its address, never its query or key.
 */
export default fp(async function eventClients (fastify) {
  const { io, eventStream, config } = fastify
  const max = config.MAX_EVENT_CLIENTS
  const trust = trustFunction(config.trustProxy)
  const limit = fastify.createRateLimit()
  const log = fastify.log.child({ plugin: 'socket.io' })
  const count = () => io.engine.clientsCount + eventStream.size

  io.engine.opts.allowRequest = (request: IncomingMessage, callback: (message: string | null, ok: boolean) => void) => {
    const remoteAddress = rawClientAddress(request, trust)
    const refuse = (code: 'TOO_MANY_CLIENTS' | 'RATE_LIMITED' | 'DEPENDENCY_UNAVAILABLE') => {
      log.info({ remoteAddress, code }, 'socket.io handshake refused')
      if (code === 'RATE_LIMITED') fastify.metrics.rateLimited.inc()
      callback(`${code}: ${ErrorMessages[code]}`, false)
    }
    if (count() >= max) return refuse('TOO_MANY_CLIENTS')
    // The limiter reads a Fastify request; these are the fields it (and its key generator) uses.
    const asRequest = { ip: remoteAddress, socket: request.socket, routeOptions: { config: {} } } as unknown as FastifyRequest
    limit(asRequest).then(result => {
      if (!result.isAllowed && result.isExceeded) return refuse('RATE_LIMITED')
      log.info({ remoteAddress }, 'socket.io handshake')
      callback(null, true)
    }, (err: unknown) => {
      log.warn({ err }, 'socket.io handshake not counted')
      refuse('DEPENDENCY_UNAVAILABLE')
    })
  }

  fastify.decorate('eventClients', {
    get count () { return count() },
    admit () {
      if (count() >= max) throw new AppError('TOO_MANY_CLIENTS', `At most ${max} event clients may be connected to this node; retry later`)
    }
  } satisfies EventClients)
}, { name: 'event-clients', dependencies: ['websocket', 'event-stream', 'rate-limit', 'metrics'] })
