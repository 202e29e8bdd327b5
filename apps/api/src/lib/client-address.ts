import { isIP } from 'node:net'

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
