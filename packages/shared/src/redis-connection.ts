import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'

/** A connection to one Redis server or to a Redis Cluster: every process uses either through this type. */
export type RedisClient = Redis | Cluster

/** Where `REDIS_URL` points: one server (the URL as is), or a cluster's seed nodes and their shared options. */
export type RedisTarget =
  | { cluster: false, url: string }
  | { cluster: true, nodes: Array<{ host: string, port: number }>, username?: string, password?: string, tls: boolean }

const CLUSTER_SCHEME = /^(rediss?)\+cluster:\/\//

/**
 * Reads `REDIS_URL`: `redis://` or `rediss://` is one server; `redis+cluster://[user:pass@]host:port,host:port`
 * (or `rediss+cluster://`, TLS) lists seed nodes of a Redis Cluster. Throws naming the problem, never the URL.
 */
export function parseRedisUrl (url: string): RedisTarget {
  const scheme = CLUSTER_SCHEME.exec(url)
  if (scheme === null) return { cluster: false, url }
  let rest = url.slice(scheme[0].length)
  const end = rest.search(/[/?#]/)
  if (end >= 0) rest = rest.slice(0, end)
  const at = rest.lastIndexOf('@')
  const userinfo = at >= 0 ? rest.slice(0, at) : ''
  const hosts = at >= 0 ? rest.slice(at + 1) : rest
  const nodes = hosts.split(',').map(node => {
    const colon = node.lastIndexOf(':')
    const host = (colon >= 0 ? node.slice(0, colon) : node).replace(/^\[(.*)\]$/, '$1')
    const port = colon >= 0 ? Number(node.slice(colon + 1)) : 6379
    if (host === '' || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error('REDIS_URL: a cluster node must be host:port')
    return { host, port }
  })
  const colon = userinfo.indexOf(':')
  const decode = (s: string) => s === '' ? undefined : decodeURIComponent(s)
  return {
    cluster: true,
    nodes,
    username: decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo),
    password: colon >= 0 ? decode(userinfo.slice(colon + 1)) : undefined,
    tls: scheme[1] === 'rediss'
  }
}

// Options that belong to the cluster client itself rather than to each node's connection.
const CLUSTER_LEVEL = ['lazyConnect', 'enableOfflineQueue', 'enableAutoPipelining', 'enableReadyCheck'] as const

/**
 * Connects to `REDIS_URL` with the given options: a `Redis` for one server, a `Cluster` for a
 * `+cluster` URL (the per-connection options go to every node; `retryStrategy` becomes the
 * cluster's reconnect strategy).
 */
export function createRedisConnection (url: string, options: RedisOptions = {}): RedisClient {
  const target = parseRedisUrl(url)
  if (!target.cluster) return new Redis(url, options)
  const { retryStrategy, ...rest } = options
  const clusterOptions: ClusterOptions = {}
  const nodeOptions: Record<string, unknown> = { ...rest }
  for (const key of CLUSTER_LEVEL) {
    if (key in nodeOptions) {
      (clusterOptions as Record<string, unknown>)[key] = nodeOptions[key]
      delete nodeOptions[key]
    }
  }
  if (retryStrategy) clusterOptions.clusterRetryStrategy = times => retryStrategy(times)
  if (target.username !== undefined) nodeOptions.username = target.username
  if (target.password !== undefined) nodeOptions.password = target.password
  if (target.tls) nodeOptions.tls = {}
  clusterOptions.redisOptions = nodeOptions
  return new Cluster(target.nodes, clusterOptions)
}

/** A new connection to the same server or cluster as `client`, its options overridden (a queue's own connection). */
export function duplicateRedisConnection (client: RedisClient, options: RedisOptions = {}): RedisClient {
  if (client instanceof Redis) return client.duplicate(options)
  const { retryStrategy, ...rest } = options
  const clusterOptions: ClusterOptions = { ...client.options }
  const nodeOptions: Record<string, unknown> = { ...client.options.redisOptions, ...rest }
  for (const key of CLUSTER_LEVEL) {
    if (key in nodeOptions) {
      (clusterOptions as Record<string, unknown>)[key] = nodeOptions[key]
      delete nodeOptions[key]
    }
  }
  if (retryStrategy) clusterOptions.clusterRetryStrategy = times => retryStrategy(times)
  clusterOptions.redisOptions = nodeOptions
  return client.duplicate(undefined, clusterOptions)
}

/** True for a Redis Cluster client. */
export function isCluster (client: RedisClient): client is Cluster {
  return client instanceof Cluster
}
