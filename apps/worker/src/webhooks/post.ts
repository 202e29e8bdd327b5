import type { IncomingMessage } from 'node:http'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { allowedAddresses, parseWebhookUrl, type Resolver } from '@wss/webhooks'

/** How much of a receiver's answer is kept (as text, on the delivery). */
export const EXCERPT_BYTES = 1024

export interface PostOptions {
  timeoutMs: number
  allowPrivate: boolean
  resolve?: Resolver
}

/** What a receiver answered: its status and the first {@link EXCERPT_BYTES} of its body. */
export interface PostAnswer { status: number, excerpt: string }

/** A request that got no answer (refused, reset, timed out); the message is safe to store and show. */
export class PostError extends Error {
  override readonly name = 'PostError'
}

// Text only, and never a NUL (Postgres text refuses it): the excerpt is shown to clients as a JSON string.
const toText = (bytes: Buffer) => bytes.toString('utf8').replaceAll('\u0000', '\uFFFD')

/**
 * POSTs one delivery: the URL's addresses are checked first (the policy may refuse them:
 * `UrlNotAllowedError`), the connection goes to a checked address (no second lookup a DNS
 * rebinding could answer), redirects are not followed, and the whole exchange has one time limit.
 */
export async function postWebhook (target: string, body: string, headers: Record<string, string>, opts: PostOptions): Promise<PostAnswer> {
  const url = parseWebhookUrl(target)
  const checked = await allowedAddresses(url, opts)
  const lookup = (_host: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) =>
    options.all === true ? cb(null, checked) : cb(null, checked[0]!.address, checked[0]!.family)
  return await new Promise<PostAnswer>((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest
    const req = request(url, {
      method: 'POST',
      lookup: lookup as never,
      headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body).toString(), 'user-agent': 'wa-status-server-webhooks/1.0' }
    })
    const timer = setTimeout(() => req.destroy(new PostError(`no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs)
    req.on('error', err => { clearTimeout(timer); reject(err instanceof PostError ? err : new PostError(`request failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`)) })
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = []
      let size = 0
      const finish = () => {
        clearTimeout(timer)
        resolve({ status: res.statusCode ?? 0, excerpt: toText(Buffer.concat(chunks).subarray(0, EXCERPT_BYTES)) })
        res.destroy()
      }
      res.on('data', (chunk: Buffer) => {
        if (size < EXCERPT_BYTES) chunks.push(chunk)
        size += chunk.length
        // The rest of a large answer is not read: the excerpt is all that is kept.
        if (size >= EXCERPT_BYTES) finish()
      })
      res.on('end', finish)
      res.on('error', finish)
    })
    req.end(body)
  })
}
