import { createHash, randomBytes } from 'node:crypto'

/** What a request's API key may see and do. */
export interface KeyScope {
  /** The scoped key's id; null for an admin key (`API_KEY`). */
  readonly keyId: string | null
  /** Admin keys see everything and alone manage keys. */
  readonly admin: boolean
  /** `all`, or session ids and `prefix*` patterns. */
  readonly sessions: 'all' | readonly string[]
  readonly access: 'read' | 'write'
}

/** The scope of every key in `API_KEY`. */
export const ADMIN_SCOPE: KeyScope = Object.freeze({ keyId: null, admin: true, sessions: 'all', access: 'write' })

/** Scoped keys are `wss_` + 32 random bytes in base64url (43 characters). */
const KEY_PREFIX = 'wss_'
const KEY_SHAPE = /^wss_[A-Za-z0-9_-]{43}$/

/** A new scoped key: 256 random bits, so a fast hash of it cannot be brute-forced. */
export function newKeyToken (): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url')
}

/** Whether `candidate` has the shape of a scoped key (anything else is never looked up). */
export function looksLikeScopedKey (candidate: unknown): candidate is string {
  return typeof candidate === 'string' && KEY_SHAPE.test(candidate)
}

/** What is stored of a scoped key: its SHA-256, hex. */
export function hashKey (token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** Whether one pattern (an id, or `prefix*`) covers `sessionId`. */
export function patternMatches (pattern: string, sessionId: string): boolean {
  return pattern.endsWith('*') ? sessionId.startsWith(pattern.slice(0, -1)) : pattern === sessionId
}

/** Whether the key may see `sessionId`. */
export function inScope (scope: KeyScope, sessionId: string): boolean {
  return scope.sessions === 'all' || scope.sessions.some(p => patternMatches(p, sessionId))
}

/** Whether the key may change anything (every method but GET and HEAD). */
export function mayWrite (scope: KeyScope): boolean {
  return scope.access === 'write'
}

/** Whether the key may post an upload owned by `ownerKeyId` (null: made with an admin key). */
export function mayUseUpload (scope: KeyScope, ownerKeyId: string | null): boolean {
  return scope.admin || ownerKeyId === scope.keyId
}

// Prisma hands `startsWith` to LIKE without escaping its wildcards, and `_` is one that session
// ids may hold (`%` and `\` they may not); escaped here, a prefix only matches itself.
const likeLiteral = (prefix: string) => prefix.replace(/[\\%_]/g, c => `\\${c}`)

/** A Prisma `where` on the sessions table for the key's sessions; undefined when it sees all. */
export function sessionsWhere (scope: KeyScope): { OR: Array<{ id: { in: string[] } | { startsWith: string } }> } | undefined {
  if (scope.sessions === 'all') return undefined
  const exact = scope.sessions.filter(p => !p.endsWith('*'))
  const prefixes = scope.sessions.filter(p => p.endsWith('*')).map(p => p.slice(0, -1))
  return { OR: [{ id: { in: exact } }, ...prefixes.map(prefix => ({ id: { startsWith: likeLiteral(prefix) } }))] }
}
