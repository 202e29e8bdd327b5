import { LRUCache } from 'lru-cache'
import type { Generation } from '@wss/db'
import { metrics } from '../lib/metrics.ts'

export const DEFAULT_KEY_CACHE_MAX = 50_000

/**
 * One LRU of Signal key values for every session of the worker process, so
 * the memory it takes is bounded by the process, not by the number of
 * sessions (Baileys' stock per-socket cache grows without limit).
 *
 * Values are held as the serialized JSON text, not as objects: Baileys mutates
 * some values it reads (sender-key-memory maps) before writing them back, and
 * a write that then fails must not leave the mutated object in the cache.
 */
export interface SharedKeyCache {
  /** Most entries held at once. */
  readonly max: number
  /** Entries held now. */
  readonly size: number
  /** The serialized value, `null` when the database is known not to hold it, `undefined` when not cached. */
  get(sessionId: string, generation: Generation, type: string, id: string): string | null | undefined
  /** Remembers a value (`null`: known absent). */
  set(sessionId: string, generation: Generation, type: string, id: string, value: string | null): void
  /** Forgets one entry. */
  delete(sessionId: string, generation: Generation, type: string, id: string): void
  /** Forgets every entry of a session, whatever the generation that cached it. */
  evictSession(sessionId: string): void
  /** Forgets everything. */
  clear(): void
}

export interface SharedKeyCacheOptions {
  /** Most entries held at once, all sessions together (default 50 000). */
  max?: number
}

// Remembered misses; a serialized value is never a symbol.
const ABSENT = Symbol('absent')
// Cannot occur in a session id, a key type or a Baileys key id.
const SEP = '\u0000'

export function createSharedKeyCache (opts: SharedKeyCacheOptions = {}): SharedKeyCache {
  const max = opts.max ?? DEFAULT_KEY_CACHE_MAX
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`key cache max must be a positive integer, got ${max}`)
  // Each session's keys, so evicting a session costs its own entries, not a walk of the whole cache:
  // a worker evicts every session it opens, and walking 50,000 entries each time made taking over
  // thousands of sessions quadratic.
  const bySession = new Map<string, Set<string>>()
  const sessionOf = (key: string) => key.slice(0, key.indexOf(SEP))
  const lru = new LRUCache<string, string | typeof ABSENT>({
    max,
    dispose: (_value, key, reason) => {
      if (reason === 'set') return // the key stays, with a new value
      const keys = bySession.get(sessionOf(key))
      if (keys?.delete(key) && keys.size === 0) bySession.delete(sessionOf(key))
    },
  })
  // The generation is part of the key so that reads of an owner that has lost
  // the session can never serve, or be served, the new owner's entries.
  const keyOf = (sessionId: string, generation: Generation, type: string, id: string) =>
    `${sessionId}${SEP}${generation}${SEP}${type}${SEP}${id}`

  return {
    max,
    get size () {
      return lru.size
    },
    get (sessionId, generation, type, id) {
      const hit = lru.get(keyOf(sessionId, generation, type, id))
      metrics.keyCache.inc({ result: hit === undefined ? 'miss' : 'hit' })
      return hit === ABSENT ? null : hit
    },
    set (sessionId, generation, type, id, value) {
      const key = keyOf(sessionId, generation, type, id)
      lru.set(key, value ?? ABSENT)
      let keys = bySession.get(sessionId)
      if (!keys) bySession.set(sessionId, (keys = new Set()))
      keys.add(key)
    },
    delete (sessionId, generation, type, id) {
      lru.delete(keyOf(sessionId, generation, type, id))
    },
    evictSession (sessionId) {
      const keys = bySession.get(sessionId)
      if (!keys) return
      // Copied first: each delete takes its key out of the set through dispose.
      for (const key of [...keys]) lru.delete(key)
      bySession.delete(sessionId)
    },
    clear () {
      lru.clear()
      bySession.clear()
    },
  }
}
