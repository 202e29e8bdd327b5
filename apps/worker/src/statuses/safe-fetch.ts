import type { IncomingMessage } from 'node:http'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { allowedAddresses, UrlNotAllowedError, type Resolver } from '@wss/webhooks'

export type { Resolver }

export interface SafeFetchOptions {
  maxBytes: number
  timeoutMs: number
  /** Allow private, loopback and link-local targets (off by default). */
  allowPrivate: boolean
  maxRedirects?: number
  /** Defaults to the system resolver (`dns.lookup`, every address). */
  resolve?: Resolver
  /** Which addresses may be connected to; defaults to global unicast only (anything with `allowPrivate`). */
  isAllowedAddress?: (address: string) => boolean
}

/** A fetch refused or failed on a user's behalf; the message is safe to show. */
export class FetchError extends Error {
  override readonly name = 'FetchError'
}

/** A response being read: its body still streaming, size and time caps applied by the reader. */
export interface OpenResponse { res: IncomingMessage, contentType?: string, finalUrl: string, close (): void }

const tooLarge = (maxBytes: number) => new FetchError(`the URL's content is larger than ${maxBytes} bytes`)

/**
 * GETs a URL for a user (media, link previews): http(s) only, a size cap, a time cap, and only
 * global unicast addresses — every address a name resolves to and every redirect hop is checked,
 * and the connection goes to a checked address (no second lookup a DNS rebinding could answer).
 */
export async function safeFetch (url: string, opts: SafeFetchOptions): Promise<{ body: Buffer, contentType?: string, finalUrl: string }> {
  const open = await safeOpen(url, opts)
  return await new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    open.res.on('data', (c: Buffer) => {
      size += c.length
      if (size > opts.maxBytes) { open.close(); reject(tooLarge(opts.maxBytes)); return }
      chunks.push(c)
    })
    open.res.on('end', () => { open.close(); resolve({ body: Buffer.concat(chunks), contentType: open.contentType, finalUrl: open.finalUrl }) })
    open.res.on('error', err => { open.close(); reject(err instanceof FetchError ? err : new FetchError(`fetch failed: ${err.message}`)) })
  })
}

/**
 * Follows redirects to a 200 answer and hands over its body unread; the caller reads what it needs
 * and calls `close()` (the time cap keeps running until then).
 */
export async function safeOpen (url: string, opts: SafeFetchOptions): Promise<OpenResponse> {
  let current = parseUrl(url)
  for (let hop = 0; hop <= (opts.maxRedirects ?? 3); hop++) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') throw new FetchError('only http(s) URLs can be fetched')
    const answer = await once(current, opts)
    if ('redirect' in answer) { current = parseUrl(answer.redirect, current); continue }
    return { ...answer, finalUrl: current.toString() }
  }
  throw new FetchError('too many redirects')
}

function parseUrl (url: string, base?: URL): URL {
  try {
    return new URL(url, base)
  } catch {
    throw new FetchError('the URL is not valid')
  }
}

/** The addresses to connect to, each one checked by the policy every server-side fetch shares. */
async function targets (url: URL, opts: SafeFetchOptions): Promise<Array<{ address: string, family: number }>> {
  try {
    return await allowedAddresses(url, opts)
  } catch (err) {
    throw err instanceof UrlNotAllowedError ? new FetchError(err.message) : err
  }
}

async function once (url: URL, opts: SafeFetchOptions): Promise<{ redirect: string } | Omit<OpenResponse, 'finalUrl'>> {
  const checked = await targets(url, opts)
  // The connection uses the checked addresses (every one, for Happy Eyeballs); Host and TLS SNI keep the name.
  const lookup = (_host: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) =>
    options.all === true ? cb(null, checked) : cb(null, checked[0]!.address, checked[0]!.family)
  return await new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest
    const req = request(url, { method: 'GET', lookup: lookup as never, headers: { 'user-agent': 'wa-status-server/1.0', accept: '*/*' } })
    let response: IncomingMessage | undefined
    // Once the answer has started, a timeout surfaces on its body stream, where the reader listens.
    const timer = setTimeout(() => {
      const err = new FetchError('the URL did not answer in time')
      if (response) response.destroy(err)
      else req.destroy(err)
    }, opts.timeoutMs)
    const close = () => { clearTimeout(timer); response?.destroy(); req.destroy() }
    req.on('close', () => { if (response === undefined) clearTimeout(timer) })
    req.on('error', err => reject(err instanceof FetchError ? err : new FetchError(`fetch failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`)))
    req.on('response', res => {
      response = res
      const status = res.statusCode ?? 0
      if (status >= 300 && status < 400 && res.headers.location) { close(); resolve({ redirect: res.headers.location }); return }
      if (status !== 200) { close(); reject(new FetchError(`the URL answered HTTP ${status}`)); return }
      if (Number(res.headers['content-length'] ?? 0) > opts.maxBytes) { close(); reject(tooLarge(opts.maxBytes)); return }
      resolve({ res, contentType: res.headers['content-type'], close })
    })
    req.end()
  })
}
