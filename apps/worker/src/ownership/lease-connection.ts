import type { RedisOptions } from 'ioredis'
import { selfFenceAfterMs } from './lease-timing.ts'

/**
 * The lease connection's options (renewals, claims). It fails at once while Redis is unreachable (no
 * offline queue, no retry), so a renewal that cannot be sent counts as failed. A command that was
 * sent is waited for until the fence's deadline, not 1 s: on a starved event loop the answer is
 * read late (the timer fires first) although Redis renewed the lease, and a worker that discarded
 * every such answer fenced itself while its lease ran (chaos and fleet benchmarks, bench/RESULTS.md).
 * Past the deadline an answer no longer helps: the worker has fenced by then.
 */
export function leaseConnectionOptions (leaseTtlMs: number): RedisOptions {
  return { enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 1000, commandTimeout: selfFenceAfterMs(leaseTtlMs), retryStrategy: () => 250, lazyConnect: true }
}
