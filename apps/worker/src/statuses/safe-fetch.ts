import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { isIP } from 'node:net'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import ipaddr from 'ipaddr.js'

export interface SafeFetchOptions {
  maxBytes: number
  timeoutMs: number
  /** Allow private, loopback and link-local targets (off by default). */
  allowPrivate: boolean
  maxRedirects?: number
}

/** A fetch refused or failed on a user's behalf; the message is safe to show. */
export class FetchError extends Error {
  override readonly name = 'FetchError'
}

const isPublic = (address: string) => {
  const ip = ipaddr.process(address)
  return ip.range() === 'unicast'
}

/**
 * GETs a URL for a user (media, link previews): http(s) only, a size cap, a time cap, and no
 * private, loopback or link-local address — checked on the address actually connected to, so a
 * DNS name that resolves inside the network is refused too.
 */
export async function safeFetch (url: string, opts: SafeFetchOptions): Promise<{ body: Buffer, contentType?: string, finalUrl: string }> {
  let current = new URL(url)
  for (let hop = 0; hop <= (opts.maxRedirects ?? 3); hop++) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') throw new FetchError('only http(s) URLs can be fetched')
    const res = await once(current, opts)
    if (res.redirect) { current = new URL(res.redirect, current); continue }
    return { body: res.body!, contentType: res.contentType, finalUrl: current.toString() }
  }
  throw new FetchError('too many redirects')
}

function once (url: URL, opts: SafeFetchOptions): Promise<{ body?: Buffer, contentType?: string, redirect?: string }> {
  // An IP literal never goes through DNS lookup: check it here.
  const literal = url.hostname.replace(/^\[|\]$/g, '')
  if (isIP(literal) && !opts.allowPrivate && !isPublic(literal)) return Promise.reject(new FetchError('the URL points to a private or local address'))
  const lookup = (hostname: string, options: object, cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return cb(err, [])
      const list = addresses as LookupAddress[]
      const allowed = opts.allowPrivate ? list : list.filter(a => isPublic(a.address))
      if (!allowed.length) return cb(new FetchError('the URL points to a private or local address'), [])
      cb(null, allowed)
    })
  }
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest
    const req = request(url, { method: 'GET', lookup: lookup as never, timeout: opts.timeoutMs, headers: { 'user-agent': 'wa-status-server/1.0', accept: '*/*' } }, res => {
      const status = res.statusCode ?? 0
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume()
        resolve({ redirect: res.headers.location })
        return
      }
      if (status !== 200) {
        res.resume()
        reject(new FetchError(`the URL answered HTTP ${status}`))
        return
      }
      const declared = Number(res.headers['content-length'] ?? 0)
      if (declared > opts.maxBytes) {
        res.destroy()
        reject(new FetchError(`the URL's content is larger than ${opts.maxBytes} bytes`))
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > opts.maxBytes) {
          res.destroy()
          reject(new FetchError(`the URL's content is larger than ${opts.maxBytes} bytes`))
          return
        }
        chunks.push(c)
      })
      res.on('end', () => resolve({ body: Buffer.concat(chunks), contentType: res.headers['content-type'] }))
      res.on('error', err => reject(new FetchError(`fetch failed: ${err.message}`)))
    })
    const timer = setTimeout(() => req.destroy(new FetchError('the URL did not answer in time')), opts.timeoutMs)
    req.on('close', () => clearTimeout(timer))
    req.on('timeout', () => req.destroy(new FetchError('the URL did not answer in time')))
    req.on('error', err => reject(err instanceof FetchError ? err : new FetchError(`fetch failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`)))
    req.end()
  })
}
