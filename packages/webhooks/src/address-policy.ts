// Which addresses a fetch made on a user's behalf may connect to: global unicast only. ipaddr.js
// names the special ranges it knows; the lists below add what it files under plain "unicast" but
// still reaches inside a network (or is not routable on the Internet at all).
import ipaddr from 'ipaddr.js'

const cidrs = (list: string[]) => list.map(c => ipaddr.parseCIDR(c))

/** IPv6 space outside 2000::/3 is not global unicast; these are inside it or older and named for clarity. */
const IPV6_DENIED = cidrs([
  '::/96', // IPv4-compatible (deprecated): ::7f00:1 is 127.0.0.1 on some stacks
  'fec0::/10', // site-local (deprecated, still routed inside some networks)
  '64:ff9b:1::/48', // NAT64 local-use: translates to the operator's private IPv4 space
  '64:ff9b::/96', // NAT64 well-known prefix: reaches whatever IPv4 it embeds
  '2001:db8::/32', // documentation
  '5f00::/16' // SRv6 segment identifiers
])
const IPV6_GLOBAL = ipaddr.parseCIDR('2000::/3')

/** IPv4 ranges ipaddr.js calls unicast although they are not publicly routable. */
const IPV4_DENIED = cidrs([
  '0.0.0.0/8', // "this network"
  '192.0.0.0/24', // IETF protocol assignments (DS-Lite, NAT64 discovery)
  '198.18.0.0/15' // benchmarking
])

const inAny = (ip: ipaddr.IPv4 | ipaddr.IPv6, list: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]>) =>
  list.some(([range, bits]) => range.kind() === ip.kind() && ip.match(range, bits))

/**
 * Whether `address` (an IP literal, IPv6 without brackets) is a global unicast address. IPv4-mapped
 * IPv6 (::ffff:a.b.c.d) is judged as the IPv4 it carries; anything unparsable is refused.
 */
export function isGlobalUnicast (address: string): boolean {
  if (!ipaddr.isValid(address)) return false
  const ip = ipaddr.process(address)
  if (ip.range() !== 'unicast') return false
  if (ip.kind() === 'ipv4') return !inAny(ip, IPV4_DENIED)
  return ip.match(IPV6_GLOBAL) && !inAny(ip, IPV6_DENIED)
}
