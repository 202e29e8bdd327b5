import { Type, type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import { SessionIdSchema, StatusIdSchema } from './api-schemas.ts'

/**
 * BullMQ queue of scheduled statuses, one for the deployment (under its BullMQ prefix, `RedisKeys.bull`):
 * not a worker's command queue, since the session's owner may change before the status is due.
 */
export const SCHEDULE_QUEUE = 'scheduled-statuses'

/** How far ahead a status may be scheduled. */
export const MAX_SCHEDULE_AHEAD_MS = 30 * 24 * 60 * 60 * 1000

/** A delayed job of {@link SCHEDULE_QUEUE}: which status, and which edit of it (`scheduleVersion`) it fires. */
export const ScheduledStatusJobSchema = Type.Object({
  sessionId: SessionIdSchema,
  statusId: StatusIdSchema,
  version: Type.Integer({ minimum: 0 })
})
export type ScheduledStatusJob = Static<typeof ScheduledStatusJobSchema>

const checkJob = Compile(ScheduledStatusJobSchema)

/** Validates a scheduled-status job read from the queue; null when invalid. */
export function parseScheduledStatusJob (data: unknown): ScheduledStatusJob | null {
  return checkJob.Check(data) ? data as ScheduledStatusJob : null
}

/**
 * The job id of one version of a scheduled status: adding it twice (API and maintenance sweep) is
 * one job, and an edit's new version is a new job while the old one finds its version stale.
 */
export const scheduledJobId = (statusId: string, version: number) => `sched-${statusId}-v${version}`

/**
 * BullMQ options of a scheduled-status job: a transient failure (database) is retried; a session that is
 * not connected is not a failure (the job is moved back to delayed until the grace ends).
 */
export const SCHEDULE_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 500, jitter: 0.5 },
  removeOnComplete: true,
  // A job that failed every attempt (a database outage at its time) goes, so that the maintenance
  // sweep can queue it again under the same id: a failed job kept would block that id for a day.
  removeOnFail: true
} as const
