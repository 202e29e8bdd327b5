import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import type { RedisClient } from '@wss/shared'
import type { ApiKey as ApiKeyRow, PrismaClient } from '@wss/db'
import { AppError, redisKeys } from '@wss/shared'
import { hashKey, newKeyToken, type KeyScope } from '../../lib/key-scope.ts'
import { afterCreatedAt, paginate, type Page } from '../../lib/cursor.ts'
import type { ApiKeyView, CreateKeyBody } from '../../schemas/keys.ts'

/**
 * How long a node answers a scoped key's lookup from memory. A revocation drops the entry on
 * every node at once (Redis pub/sub); this bounds what a lost announcement can leave behind.
 */
export const KEY_CACHE_MS = 5000
const KEY_CACHE_MAX = 10_000
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export interface ApiKeysDeps {
  prisma: PrismaClient
  /** Publishes revocations (the request-path client). */
  redis: RedisClient
  prefix: string
  log: FastifyBaseLogger
}

function toScope (row: ApiKeyRow): KeyScope {
  return { keyId: row.id, admin: false, sessions: row.allSessions ? 'all' : row.sessions, access: row.access }
}

function toView (row: ApiKeyRow): ApiKeyView {
  const { sessions, access } = toScope(row)
  return { id: row.id, name: row.name, scope: { sessions: sessions === 'all' ? 'all' : [...sessions], access }, createdAt: row.createdAt.toISOString() }
}

const notFound = (id: string) => new AppError('KEY_NOT_FOUND', `API key ${id.slice(0, 128)} not found`)

// Key hash → its scope as read less than KEY_CACHE_MS ago. The promise is stored, so concurrent
// lookups share one read; a failed read is not kept.
function createScopeCache (read: (hash: string) => Promise<KeyScope | null>) {
  interface Entry { at: number, scope: Promise<KeyScope | null>, value?: KeyScope | null }
  const cache = new Map<string, Entry>()
  return {
    lookup (hash: string): Promise<KeyScope | null> {
      const cached = cache.get(hash)
      if (cached !== undefined && Date.now() - cached.at < KEY_CACHE_MS) return cached.scope
      if (cache.size >= KEY_CACHE_MAX) cache.clear()
      const entry: Entry = { at: Date.now(), scope: read(hash) }
      cache.set(hash, entry)
      entry.scope.then(value => { entry.value = value }, () => { if (cache.get(hash) === entry) cache.delete(hash) })
      return entry.scope
    },
    // Drops the key's entries, and every lookup still in flight (it may have read the row before the delete).
    forget (keyId: string): void {
      for (const [hash, entry] of cache) {
        if (entry.value === undefined || entry.value?.keyId === keyId) cache.delete(hash)
      }
    }
  }
}

// Scoped keys with open event streams on this node, and how many.
function createStreamHolds () {
  const streaming = new Map<string, number>()
  return {
    hold (keyId: string): () => void {
      streaming.set(keyId, (streaming.get(keyId) ?? 0) + 1)
      let held = true
      return () => {
        if (!held) return
        held = false
        const left = (streaming.get(keyId) ?? 1) - 1
        if (left > 0) streaming.set(keyId, left)
        else streaming.delete(keyId)
      }
    },
    keyIds: (): string[] => [...streaming.keys()]
  }
}

/** Scoped keys: created and revoked by admin keys, looked up by their hash on every request. */
export function createApiKeysService (deps: ApiKeysDeps) {
  const { prisma, redis, log } = deps
  const channel = redisKeys(deps.prefix).keysRevokedChannel
  const scopes = createScopeCache(async hash => {
    const row = await prisma.apiKey.findUnique({ where: { keyHash: hash } })
    return row === null ? null : toScope(row)
  })
  const listeners = new Set<(keyId: string) => void>()
  const streams = createStreamHolds()

  // Drops what is cached of the key, then tells the open event streams.
  function forget (keyId: string): void {
    scopes.forget(keyId)
    for (const listener of listeners) listener(keyId)
  }

  return {
    /** The scope of a presented `wss_…` key, or null when no such key exists (revoked ones don't). */
    lookup: (token: string): Promise<KeyScope | null> => scopes.lookup(hashKey(token)),

    async create (body: CreateKeyBody): Promise<ApiKeyView & { key: string }> {
      const key = newKeyToken()
      const { sessions, access } = body.scope
      const all = sessions === 'all' || sessions === '*'
      const row = await prisma.apiKey.create({
        data: { id: randomUUID(), name: body.name, keyHash: hashKey(key), allSessions: all, sessions: all ? [] : sessions, access }
      })
      log.info({ keyId: row.id }, 'api key created')
      return { ...toView(row), key }
    },

    /** Oldest first; whole, or one page with its cursor. */
    async list (page: Page | null): Promise<{ items: ApiKeyView[], nextCursor?: string | null }> {
      const where = afterCreatedAt(page?.after ?? null, id => UUID.test(id))
      const rows = await prisma.apiKey.findMany({ where, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], ...(page === null ? {} : { take: page.take + 1 }) })
      if (page === null) return { items: rows.map(toView) }
      const { items, nextCursor } = paginate(rows, page.take, r => [r.createdAt.toISOString(), r.id])
      return { items: items.map(toView), nextCursor }
    },

    async get (id: string): Promise<ApiKeyView> {
      const row = UUID.test(id) ? await prisma.apiKey.findUnique({ where: { id } }) : null
      if (row === null) throw notFound(id)
      return toView(row)
    },

    /** Deletes the key; every node stops accepting it at once (at most KEY_CACHE_MS if Redis drops the news). */
    async revoke (id: string): Promise<{ id: string, revoked: true }> {
      const { count } = UUID.test(id) ? await prisma.apiKey.deleteMany({ where: { id } }) : { count: 0 }
      if (count === 0) throw notFound(id)
      forget(id)
      log.info({ keyId: id }, 'api key revoked')
      await redis.publish(channel, id).catch((err: unknown) => log.warn({ err, keyId: id }, 'revocation not announced; other nodes drop the key within the cache time'))
      return { id, revoked: true }
    },

    /** Called with a key's id when it is revoked on any node (open event streams close). */
    onRevoked (listener: (keyId: string) => void): () => void {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },

    /** Counts an open event stream of a scoped key (see {@link recheck}); returns its release. */
    hold: (keyId: string): () => void => streams.hold(keyId),

    /**
     * Ends the streams of keys that no longer exist: a revocation whose announcement was lost
     * (Redis down at that moment) would otherwise leave them open. One query, run every KEY_CACHE_MS.
     */
    async recheck (): Promise<void> {
      const ids = streams.keyIds()
      if (ids.length === 0) return
      const rows = await prisma.apiKey.findMany({ where: { id: { in: ids } }, select: { id: true } })
      const alive = new Set(rows.map(r => r.id))
      for (const id of ids) if (!alive.has(id)) forget(id)
    },

    channel,
    /** A revocation announced by a node (this one included). */
    revoked (keyId: string): void {
      if (UUID.test(keyId)) forget(keyId)
    }
  }
}

export type ApiKeysService = ReturnType<typeof createApiKeysService>

declare module 'fastify' {
  interface FastifyInstance {
    apiKeys: ApiKeysService
  }
}

export interface ApiKeysOptions { subscriber: RedisClient }

export default fp<ApiKeysOptions>(async function apiKeys (fastify, { subscriber }) {
  const service = createApiKeysService({
    prisma: fastify.prisma,
    redis: fastify.redis,
    prefix: fastify.config.REDIS_PREFIX,
    log: fastify.log.child({ service: 'api-keys' })
  })
  fastify.decorate('apiKeys', service)
  const onMessage = (from: string, message: string) => { if (from === service.channel) service.revoked(message) }
  subscriber.on('message', onMessage)
  // Not awaited, like the events channel: ioredis subscribes once Redis is up, and again after reconnects.
  subscriber.subscribe(service.channel).catch((err: unknown) => fastify.log.error({ err }, 'key revocation subscription failed'))
  const recheck = setInterval(() => {
    service.recheck().catch((err: unknown) => fastify.log.warn({ err }, 'scoped key recheck failed'))
  }, KEY_CACHE_MS)
  recheck.unref()
  fastify.addHook('onClose', async () => {
    clearInterval(recheck)
    subscriber.off('message', onMessage)
    if (subscriber.status === 'ready') await subscriber.unsubscribe(service.channel).catch(() => {})
  })
}, { name: 'api-keys' })
