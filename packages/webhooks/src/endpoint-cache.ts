import type { PrismaClient } from '@wss/db'

/** What the fan-out needs of an enabled endpoint. */
export interface EndpointFilter {
  id: string
  /** Empty: every event. */
  events: string[]
  /** Empty: every session. */
  sessionIds: string[]
  /** The scoped key that made it; null for an admin key. */
  ownerKeyId: string | null
}

/**
 * Whether an endpoint takes an event. An event of no session (`webhook-disabled`) goes only to
 * endpoints of admin keys that take every session, like the socket streams.
 */
export function endpointWants (endpoint: EndpointFilter, event: string, sessionId: string | null): boolean {
  if (endpoint.events.length > 0 && !endpoint.events.includes(event)) return false
  if (sessionId === null) return endpoint.sessionIds.length === 0 && endpoint.ownerKeyId === null
  return endpoint.sessionIds.length === 0 || endpoint.sessionIds.includes(sessionId)
}

/**
 * The enabled endpoints, read at most once per `ttlMs` (a backstop: changes are announced over
 * Redis and drop the list at once). Concurrent readers share one query; a failed one is not kept.
 */
export function createEndpointCache (prisma: PrismaClient, ttlMs: number, now: () => number = Date.now) {
  let entry: { at: number, list: Promise<EndpointFilter[]> } | null = null
  return {
    get (): Promise<EndpointFilter[]> {
      if (entry !== null && now() - entry.at < ttlMs) return entry.list
      const list = prisma.webhookEndpoint.findMany({ where: { enabled: true }, select: { id: true, events: true, sessionIds: true, ownerKeyId: true } })
      const current = { at: now(), list }
      entry = current
      list.catch(() => { if (entry === current) entry = null })
      return list
    },
    invalidate (): void {
      entry = null
    }
  }
}
export type EndpointCache = ReturnType<typeof createEndpointCache>
