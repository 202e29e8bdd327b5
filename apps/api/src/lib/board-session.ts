import { createHmac, hkdfSync } from 'node:crypto'
import { createApiKeyVerifier } from './api-key.ts'

export interface BoardSessionOptions {
  /** The admin keys (API_KEY): only these may log in to the dashboard. */
  apiKeys: readonly string[]
  /** SESSION_SECRET; unset: derived from the admin keys. */
  secret?: string
  /** How long a login lasts. */
  ttlMs: number
  now?: () => number
}

/**
 * The dashboard's login, kept in a signed cookie (@fastify/cookie signs it with {@link secret}).
 * The cookie holds an expiry and a fingerprint of the key that logged in (an HMAC under the
 * secret), never the key itself: a key removed from API_KEY ends the logins it made.
 */
export function createBoardSessions (options: BoardSessionOptions) {
  const now = options.now ?? Date.now
  // Every node with the same API_KEY derives the same secret, so a login holds on all of them.
  const secret = options.secret ?? Buffer.from(hkdfSync(
    'sha256', [...options.apiKeys].sort().join('\n'), 'wss-queue-board', 'session-cookie-secret', 32
  )).toString('base64url')
  const fingerprint = (key: string) => createHmac('sha256', secret).update(`board-login:${key}`).digest('base64url')
  const fingerprints = new Set(options.apiKeys.map(fingerprint))
  const isAdminKey = createApiKeyVerifier(options.apiKeys)

  return {
    /** Signs the cookie; never logged. */
    secret,
    /** The cookie value for a login with `candidate`, or null when it is not an admin key. */
    issue (candidate: unknown): string | null {
      if (!isAdminKey(candidate)) return null
      return `${now() + options.ttlMs}.${fingerprint(candidate as string)}`
    },
    /** Whether an (already unsigned) cookie value is a current login. */
    check (value: string | null | undefined): boolean {
      if (typeof value !== 'string') return false
      const dot = value.indexOf('.')
      const expires = Number(value.slice(0, dot))
      return dot > 0 && Number.isSafeInteger(expires) && expires > now() && fingerprints.has(value.slice(dot + 1))
    }
  }
}

export type BoardSessions = ReturnType<typeof createBoardSessions>
