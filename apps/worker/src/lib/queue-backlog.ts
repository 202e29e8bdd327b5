import type { Queue } from 'bullmq'

const WAITING = ['wait', 'prioritized', 'delayed'] as const

/** Commands waiting in a queue and the age of the oldest of them in seconds (0 when none): four reads. */
export async function commandQueueBacklog (queue: Queue): Promise<{ waiting: number, oldestAgeSeconds: number }> {
  const counts = await queue.getJobCounts(...WAITING)
  const waiting = WAITING.reduce((n, state) => n + (counts[state] ?? 0), 0)
  if (waiting === 0) return { waiting, oldestAgeSeconds: 0 }
  // The oldest of each state's head (BullMQ lists are kept in arrival order; asc = oldest first).
  const heads = await Promise.all(WAITING.map(state => queue.getJobs([state], 0, 0, true)))
  const oldest = Math.min(...heads.flat().map(job => job.timestamp))
  return { waiting, oldestAgeSeconds: Number.isFinite(oldest) ? Math.max(0, (Date.now() - oldest) / 1000) : 0 }
}
