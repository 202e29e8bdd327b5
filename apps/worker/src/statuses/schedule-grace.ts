import type { PrismaClient } from '@wss/db'

/** The longest wait between two looks at a due status whose session is not connected. */
const MAX_RETRY_MS = 60_000

/** Why a scheduled status failed when its session stayed away for the whole grace. */
export function graceExpiredReason (scheduledAt: Date): string {
  return `the session was not connected between the status's scheduled time (${scheduledAt.toISOString()}) and the end of its grace (SCHEDULE_GRACE_MINUTES)`
}

/** Why a fired scheduled status failed when its send came after the end of its grace (its send was lost, the workers were away). */
export function sentTooLateReason (scheduledAt: Date): string {
  return `the status was not sent between its scheduled time (${scheduledAt.toISOString()}) and the end of its grace (SCHEDULE_GRACE_MINUTES): it is not posted late`
}

/** True once a status scheduled for `scheduledAt` is past its grace: it is failed, never posted. */
export function pastGrace (scheduledAt: Date | null, graceMs: number, now = Date.now()): scheduledAt is Date {
  return scheduledAt !== null && now >= scheduledAt.getTime() + graceMs
}

/**
 * When to look again at a due status whose session is not connected: soon at first, then less
 * often the longer the session stays away (a tenth of the lateness, at most a minute), never past
 * the end of the grace. A status sent once its session is back is late by at most that much more.
 */
export function nextLookAt (now: number, due: number, graceMs: number, retryMs: number): number {
  const wait = Math.min(Math.max(retryMs, (now - due) / 10), MAX_RETRY_MS)
  return Math.min(now + wait, due + graceMs)
}

/** What a fired scheduled status's send does when it meets its session not connected. */
export type GraceDecision = { retryAt: number } | { failed: string }

/**
 * The grace of a scheduled status that already fired (`pending`, with `scheduledAt`): its send is
 * retried until `scheduledAt` + the grace, then the status fails naming it. Null for a status sent
 * without a schedule (the send's normal retries apply) or one that is no longer pending.
 */
export async function sendGrace (prisma: PrismaClient, statusId: string, graceMs: number, retryMs: number, now = Date.now()): Promise<GraceDecision | null> {
  const row = await prisma.status.findUnique({ where: { id: statusId }, select: { state: true, scheduledAt: true } })
  if (row?.state !== 'pending' || row.scheduledAt === null) return null
  const due = row.scheduledAt.getTime()
  if (now >= due + graceMs) return { failed: graceExpiredReason(row.scheduledAt) }
  return { retryAt: nextLookAt(now, due, graceMs, retryMs) }
}
