// Which URLs a webhook may point at, and which addresses a delivery may connect to. The API checks
// at creation, the worker again before every attempt (a name's addresses can change meanwhile).
import { lookup as dnsLookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { isGlobalUnicast } from './address-policy.ts'

/** Resolves a host name to every address it has (replaceable in tests). */
export type Resolver = (hostname: string) => Promise<Array<{ address: string, family: number }>>

/** A URL the server may not send to; the message says why and is safe to show (never the URL's credentials). */
export class UrlNotAllowedError extends Error {
  override readonly name = 'UrlNotAllowedError'
}

/** Longest endpoint URL accepted. */
export const MAX_URL_LENGTH = 2048

const systemResolve: Resolver = hostname => dnsLookup(hostname, { all: true, verbatim: true })

/** Parses an endpoint URL: absolute http(s), no user name or password, at most {@link MAX_URL_LENGTH} characters. */
export function parseWebhookUrl (value: string): URL {
  if (value.length > MAX_URL_LENGTH) throw new UrlNotAllowedError(`the URL is longer than ${MAX_URL_LENGTH} characters`)
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new UrlNotAllowedError('the URL is not a valid absolute URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UrlNotAllowedError('only http and https URLs can receive webhooks')
  if (url.username !== '' || url.password !== '') throw new UrlNotAllowedError('the URL may not carry a user name or password')
  return url
}

export interface AddressCheckOptions {
  /** Allow private, loopback and link-local targets (WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate: boolean
  /** Defaults to the system resolver (`dns.lookup`, every address). */
  resolve?: Resolver
  /** Which addresses may be connected to; defaults to global unicast only (anything with `allowPrivate`). */
  isAllowedAddress?: (address: string) => boolean
}

/**
 * The addresses a request to `url` may connect to: an IP literal as it is, a name through the
 * resolver; refused when any of them is not global unicast (unless private ones are allowed).
 */
export async function allowedAddresses (url: URL, opts: AddressCheckOptions): Promise<Array<{ address: string, family: number }>> {
  const literal = url.hostname.replace(/^\[|\]$/g, '')
  const family = isIP(literal)
  let addresses: Array<{ address: string, family: number }>
  if (family !== 0) addresses = [{ address: literal, family }]
  else {
    try {
      addresses = await (opts.resolve ?? systemResolve)(url.hostname)
    } catch (err) {
      throw new UrlNotAllowedError(`the host could not be resolved (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    }
  }
  if (addresses.length === 0) throw new UrlNotAllowedError('the host has no address')
  const allowed = opts.isAllowedAddress ?? (opts.allowPrivate ? () => true : isGlobalUnicast)
  // One private answer refuses the name: which one a connection would use is not ours to pick.
  if (addresses.some(a => !allowed(a.address))) {
    throw new UrlNotAllowedError('the URL points to a private, loopback or link-local address')
  }
  return addresses
}

/** Parses and checks an endpoint URL as the API does at creation; returns it normalised. */
export async function checkWebhookUrl (value: string, opts: AddressCheckOptions): Promise<string> {
  const url = parseWebhookUrl(value)
  await allowedAddresses(url, opts)
  return url.toString()
}
