/** Parses WEBHOOK_RETRY_SCHEDULE_MS: the delay before each retry, in milliseconds. */
export function parseRetrySchedule (value: string): number[] {
  return value.split(',').map(Number)
}

/** Jitter spreads retries of a burst that failed together: each delay moves by up to 20 % either way. */
const JITTER = 0.2

/**
 * The delay before the attempt after `attempt` (1-based), or null when `attempt` was the last one
 * the schedule allows.
 */
export function retryDelay (schedule: readonly number[], attempt: number, random: () => number = Math.random): number | null {
  const base = schedule[attempt - 1]
  if (base === undefined) return null
  return Math.max(0, Math.round(base * (1 + JITTER * (2 * random() - 1))))
}
