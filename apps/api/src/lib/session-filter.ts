import { SESSION_ID_PATTERN } from '@wss/shared'

const SESSION_ID = new RegExp(SESSION_ID_PATTERN)
/** Bounds the work one client can ask for. */
export const MAX_FILTER_SESSIONS = 100

/**
 * Reads session ids from what a client sent: `"a"`, `"a,b"`, `["a","b"]` or `{ sessionId: ... }`.
 * Returns null when anything in it is not a valid session id.
 */
export function parseSessionIds (input: unknown): string[] | null {
  if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
    return parseSessionIds((input as { sessionId?: unknown }).sessionId)
  }
  const parts = Array.isArray(input)
    ? input.flatMap(v => (typeof v === 'string' ? v.split(',') : [v]))
    : typeof input === 'string' ? input.split(',') : null
  if (parts === null) return null
  const ids: string[] = []
  for (const part of parts) {
    if (typeof part !== 'string') return null
    const id = part.trim()
    if (!SESSION_ID.test(id)) return null
    if (!ids.includes(id)) ids.push(id)
  }
  return ids.length > 0 && ids.length <= MAX_FILTER_SESSIONS ? ids : null
}

/**
 * Which sessions a realtime client wants. It starts with every session unless the handshake
 * named some; the first `subscribe` narrows an unfiltered client to the sessions it names, and
 * `unsubscribe` only removes sessions from an existing filter (an empty filter receives nothing).
 */
export class SessionFilter {
  #sessions: Set<string> | null

  constructor (initial: string[] | null = null) {
    this.#sessions = initial === null ? null : new Set(initial)
  }

  get all (): boolean { return this.#sessions === null }

  get sessionIds (): string[] { return this.#sessions === null ? [] : [...this.#sessions] }

  matches (sessionId: string): boolean {
    return this.#sessions === null || this.#sessions.has(sessionId)
  }

  /** Returns false when the filter would grow past {@link MAX_FILTER_SESSIONS}. */
  subscribe (ids: string[]): boolean {
    const next = new Set(this.#sessions ?? [])
    for (const id of ids) next.add(id)
    if (next.size > MAX_FILTER_SESSIONS) return false
    this.#sessions = next
    return true
  }

  unsubscribe (ids: string[]): void {
    if (this.#sessions === null) return
    for (const id of ids) this.#sessions.delete(id)
  }

  snapshot (): { all: boolean, sessionIds: string[] } {
    return { all: this.all, sessionIds: this.sessionIds }
  }
}
