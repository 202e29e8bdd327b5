// The timings derived from a worker's lease (LEASE_TTL_MS), in one place: the ownership renews and
// fences by them, and the configuration bounds the watchdog by them.

/** How often a worker renews its lease. */
export const renewEveryMs = (leaseTtlMs: number) => Math.max(250, Math.floor(leaseTtlMs / 4))

/** How long a worker may fail to renew before it stops its sessions itself. */
export const selfFenceAfterMs = (leaseTtlMs: number) => Math.max(leaseTtlMs - 2500, renewEveryMs(leaseTtlMs) * 2)

/** Shortest watchdog timeout: a few heartbeats, so a loop that is merely busy is not taken for frozen. */
export const WATCHDOG_MIN_MS = 1000

/**
 * Time the watchdog needs, past its timeout, to notice the silence, kill the process and have the
 * kernel close its sockets (so WhatsApp sees the connection end) before the lease can lapse.
 */
const WATCHDOG_KILL_MARGIN_MS = 1000

/**
 * The longest watchdog timeout that still kills a frozen worker before its lease lapses. The lease
 * was renewed at worst one renewal interval before the loop froze, and lapses LEASE_TTL_MS after
 * that renewal; another worker may connect the sessions from then on.
 */
export const watchdogBoundMs = (leaseTtlMs: number) => leaseTtlMs - renewEveryMs(leaseTtlMs) - WATCHDOG_KILL_MARGIN_MS
