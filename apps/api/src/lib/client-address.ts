import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'
import proxyaddr from 'proxy-addr'

/** What {@link clientAddress} reads: a Fastify request, or the subset a log serializer sees. */
export interface AddressedRequest {
  ip?: string
  /** With a trusted proxy: the socket's peer first, then each forwarded address outwards. */
  ips?: string[]
  socket?: { remoteAddress?: string }
}

/**
 * The client's IP address, which rate limits, quotas and logs key on. Fastify takes it from
 * X-Forwarded-For when TRUST_PROXY trusts the sender, without checking it is an address at all;
 * a value that is not one would buy a fresh counter per request. Then the last valid address of
 * the forwarded chain before it counts (the proxy that passed it on), else the socket's peer.
 */
export function clientAddress (request: AddressedRequest): string {
  const ip = request.ip
  if (ip !== undefined && isIP(ip) !== 0) return ip
  let last = request.socket?.remoteAddress
  for (const hop of request.ips ?? []) {
    if (isIP(hop) === 0) break
    last = hop
  }
  return last !== undefined && isIP(last) !== 0 ? last : 'unknown'
}

/** A proxy-addr trust function for TRUST_PROXY, as Fastify applies it (a hop count trusts that many hops). */
export function trustFunction (trust: boolean | number | string[]): (address: string, hop: number) => boolean {
  if (trust === true) return () => true
  if (trust === false) return () => false
  if (typeof trust === 'number') return (_address, hop) => hop < trust
  return proxyaddr.compile(trust)
}

/**
 * The client address of a raw Node request (Socket.IO handshakes, which bypass Fastify), read
 * exactly as Fastify reads it for its routes and then checked like {@link clientAddress}.
 */
export function rawClientAddress (request: IncomingMessage, trust: (address: string, hop: number) => boolean): string {
  return clientAddress({ ip: proxyaddr(request, trust), ips: proxyaddr.all(request, trust), socket: request.socket })
}
