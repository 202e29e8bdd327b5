import type { ConnectionStatus } from '../../../schemas/sessions.ts'

/**
 * How long a connection status read from Postgres and the registry is answered from memory as it
 * is. Changes the workers announce drop the entry at once; these bound what no event announces (an
 * owner's lease lapsing). An entry older than this is still answered while a new read runs in the
 * background (one per session), so a busy route never waits for the database; one older than
 * {@link CONNECTION_STATUS_MAX_AGE_MS} is read again before answering. The route is never more than
 * CONNECTION_STATUS_MAX_AGE_MS behind, and under steady polling about FRESH_MS.
 */
export const CONNECTION_STATUS_FRESH_MS = 50
export const CONNECTION_STATUS_MAX_AGE_MS = 100
const CONNECTION_STATUS_CACHE_MAX = 10_000

export interface ConnectionStatusCacheDeps {
  /** Reads a session's status from the stores. */
  read: (sessionId: string) => Promise<ConnectionStatus>
  /** Whether a cached status may be answered (see SessionsDeps.cacheUsable). */
  usable: () => boolean
  now: () => number
}

// The promise is stored, so concurrent requests share one read; a failed read is not kept.
interface CachedStatus { at: number, status: Promise<ConnectionStatus>, value?: ConnectionStatus, refreshing?: boolean }

/** sessionId → the status being read or read less than CONNECTION_STATUS_MAX_AGE_MS ago. */
export function createConnectionStatusCache ({ read, usable, now }: ConnectionStatusCacheDeps) {
  const statusCache = new Map<string, CachedStatus>()

  function readIntoCache (sessionId: string): CachedStatus {
    if (statusCache.size >= CONNECTION_STATUS_CACHE_MAX) statusCache.clear()
    const entry: CachedStatus = { at: now(), status: read(sessionId) }
    statusCache.set(sessionId, entry)
    entry.status.then(value => { entry.value = value }, () => { if (statusCache.get(sessionId) === entry) statusCache.delete(sessionId) })
    return entry
  }

  // The next read of an entry that is getting old, while the entry goes on answering. It takes the
  // entry's place only if nothing replaced or dropped the entry meanwhile (an announced change did:
  // a read begun before it may have seen the old state).
  function refreshAhead (sessionId: string, entry: CachedStatus): void {
    if (entry.refreshing) return
    entry.refreshing = true
    const next: CachedStatus = { at: now(), status: read(sessionId) }
    next.status.then(
      value => {
        next.value = value
        if (statusCache.get(sessionId) === entry) statusCache.set(sessionId, next)
      },
      () => { entry.refreshing = false })
  }

  // The cached entry that may answer now (refreshing it ahead when it is getting old), if any.
  function usableEntry (sessionId: string): CachedStatus | undefined {
    const cached = statusCache.get(sessionId)
    if (cached === undefined || !usable()) return undefined
    const age = now() - cached.at
    if (age < CONNECTION_STATUS_FRESH_MS) return cached
    if (age < CONNECTION_STATUS_MAX_AGE_MS) {
      refreshAhead(sessionId, cached)
      return cached
    }
    return undefined
  }

  return {
    /** The status, from memory when an entry may answer, else read (and kept). */
    get (sessionId: string): Promise<ConnectionStatus> {
      const entry = usableEntry(sessionId)
      return entry !== undefined ? entry.status : readIntoCache(sessionId).status
    },
    /** The status when memory holds it already read, else undefined. */
    now (sessionId: string): ConnectionStatus | undefined {
      return usableEntry(sessionId)?.value
    },
    drop (sessionId: string): void {
      statusCache.delete(sessionId)
    }
  }
}

export type ConnectionStatusCache = ReturnType<typeof createConnectionStatusCache>
