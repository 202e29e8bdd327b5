import type { Status as StatusRow } from '@wss/db'
import { AppError, CommandName, isAppError, sendStatusJobId, type StatusState } from '@wss/shared'
import type { SessionView } from '../sessions.ts'
import type { StatusActionsDeps } from './actions.ts'

/** One session's status of a many-session post; `error` says why a failed one failed. */
export interface PostedStatus { sessionId: string, id: string, state: StatusState, error?: string }

/** A status whose send could not be queued, and why. */
interface Unqueued { row: StatusRow, reason: unknown }

const reasonOf = (reason: unknown) => isAppError(reason) ? reason.message : 'Redis refused the job'
const codeOf = (reason: unknown) => isAppError(reason) ? reason.code : 'DEPENDENCY_UNAVAILABLE'

export const answer = (rows: StatusRow[]): PostedStatus[] => rows.map(r => ({
  sessionId: r.sessionId,
  id: r.id,
  state: r.state,
  ...(r.state === 'failed' && r.error !== null ? { error: r.error } : {})
}))

/** Queues each pending status's send to its session's owner (or any live worker); answers those that could not be queued. */
async function enqueueEach (deps: StatusActionsDeps, rows: StatusRow[], views: Map<string, SessionView>): Promise<Unqueued[]> {
  const pending = rows.filter(r => r.state === 'pending')
  const results = await Promise.allSettled(pending.map(async row => {
    const owner = views.get(row.sessionId)?.owner
    const target = owner?.alive === true ? owner.workerId : undefined
    await deps.commands.enqueue(CommandName.SendStatus, { sessionId: row.sessionId, statusId: row.id }, { jobId: sendStatusJobId(row.id), ...(target === undefined ? {} : { target }) })
  }))
  const unqueued: Unqueued[] = []
  results.forEach((r, i) => { if (r.status === 'rejected') unqueued.push({ row: pending[i]!, reason: r.reason }) })
  for (const { row, reason } of unqueued) deps.log.warn({ sessionId: row.sessionId, statusId: row.id, err: reason }, 'status send could not be queued')
  return unqueued
}

/** Marks the statuses that could not be queued failed, with `status-failed`: none stays pending without a job. */
async function failUnqueued (deps: StatusActionsDeps, rows: StatusRow[], unqueued: Unqueued[]): Promise<StatusRow[]> {
  const failed = new Map<string, string>()
  for (const { row, reason } of unqueued) {
    const error = `the send could not be queued: ${reasonOf(reason)}`
    const { count } = await deps.prisma.status.updateMany({ where: { id: row.id, state: 'pending' }, data: { state: 'failed', error } })
    if (count === 0) continue
    failed.set(row.id, error)
    await deps.publish('status-failed', { sessionId: row.sessionId, id: row.id, error })
    await deps.publish('statuses-updated', { sessionId: row.sessionId })
  }
  return rows.map(r => failed.has(r.id) ? { ...r, state: 'failed', error: failed.get(r.id)! } : r)
}

/** The error of a post none of whose statuses could be queued: NO_WORKER only when that is every reason. */
function nothingQueued (unqueued: Unqueued[]): AppError {
  const sessions = unqueued.map(({ row, reason }) => ({ sessionId: row.sessionId, code: codeOf(reason), message: reasonOf(reason) }))
  if (sessions.every(s => s.code === 'NO_WORKER')) {
    return new AppError('NO_WORKER', 'No worker is available to send the statuses: nothing was posted; try again once a worker is up', { sessions })
  }
  return new AppError('DEPENDENCY_UNAVAILABLE', 'The statuses could not be queued: nothing was posted; try again', { sessions })
}

/**
 * Queues the sends of a post's pending statuses. Those that could not be queued are marked failed
 * (`status-failed`) and answered so; when none could be queued and `undoIfNone`, the post is
 * undone (its statuses deleted) and answered 503, so a retry with the same key posts afresh.
 */
export async function dispatchAll (deps: StatusActionsDeps, rows: StatusRow[], views: Map<string, SessionView>, undoIfNone: boolean): Promise<StatusRow[]> {
  const unqueued = await enqueueEach(deps, rows, views)
  if (unqueued.length === 0) return rows
  if (undoIfNone && unqueued.length === rows.length) {
    await deps.prisma.status.deleteMany({ where: { id: { in: rows.map(r => r.id) }, state: 'pending' } })
    throw nothingQueued(unqueued)
  }
  return await failUnqueued(deps, rows, unqueued)
}
