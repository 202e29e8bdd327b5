import type { IncomingHttpHeaders } from 'node:http'

/**
 * Whether `candidate` equals `key`, in a time that depends on the length of `key` only: every
 * character of the key is compared, without a branch on the result, whatever the candidate's
 * length and wherever it differs.
 */
function sameAs (candidate: string, key: string): boolean {
  let diff = candidate.length ^ key.length
  // Past the candidate's end charCodeAt is NaN, and NaN | 0 is 0: the loop runs on unchanged.
  for (let i = 0; i < key.length; i++) diff |= (candidate.charCodeAt(i) | 0) ^ key.charCodeAt(i)
  return diff === 0
}

/**
 * Builds a checker for the configured keys. Every key is compared every time, each in a time
 * that depends on its own length only (sameAs), so neither the candidate's length nor where it
 * differs, nor which key matched, shows in the timing. (A SHA-256 of the candidate compared with
 * timingSafeEqual did the same at ~20 times the cost: a tenth of a connection-status request.)
 */
export function createApiKeyVerifier (keys: readonly string[]): (candidate: unknown) => boolean {
  return candidate => {
    if (typeof candidate !== 'string' || candidate.length === 0 || candidate.length > 1024) return false
    let ok = false
    for (const key of keys) ok = sameAs(candidate, key) || ok
    return ok
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i

/** The key a request presents: `x-api-key`, else `Authorization: Bearer KEY`. */
export function extractApiKey (headers: IncomingHttpHeaders): string | undefined {
  const header = headers['x-api-key']
  const direct = Array.isArray(header) ? header[0] : header
  if (direct !== undefined && direct !== '') return direct
  const authorization = headers.authorization
  if (typeof authorization !== 'string') return undefined
  return BEARER.exec(authorization)?.[1]
}

// Decoded until it no longer changes (a few rounds at most), so a name encoded twice is caught too.
function decodeName (raw: string): string {
  let name = raw
  for (let round = 0; round < 4; round++) {
    let next: string
    try {
      next = decodeURIComponent(name.replaceAll('+', ' '))
    } catch {
      return name
    }
    if (next === name) return name
    name = next
  }
  return name
}

/**
 * Replaces the value of every query parameter whose name, decoded as the query parser decodes
 * it (`%61piKey` is `apiKey`; also encoded twice), holds `apikey` in any case, so URLs can be logged. The query
 * starts at the first `?` or `#`, as the router splits it, and parameters are split on `&`.
 */
export function maskApiKeyInUrl (url: string): string {
  const start = url.search(/[?#]/)
  if (start === -1) return url
  const pairs = url.slice(start + 1).split('&').map(pair => {
    const eq = pair.indexOf('=')
    const name = eq === -1 ? pair : pair.slice(0, eq)
    return decodeName(name).toLowerCase().includes('apikey') ? `${name}=[REDACTED]` : pair
  })
  return `${url.slice(0, start + 1)}${pairs.join('&')}`
}
