import { Type, type Static } from 'typebox'
import { SessionIdSchema } from '@wss/shared'

const CheckSchema = Type.Object({ status: Type.Enum(['ok', 'down']) })
const Count = Type.Integer({ minimum: 0 })
/** A BullMQ queue's jobs by state (prioritized jobs and those waiting for children count as waiting). */
const JobCounts = { waiting: Count, active: Count, delayed: Count, failed: Count }
const Nullable = <T extends ReturnType<typeof Type.Object>>(schema: T) => Type.Union([schema, Type.Null()])

/** One session's footprint in the database, in bytes (`pg_column_size` of its rows). */
const SessionStorageSchema = Type.Object({
  sessionId: SessionIdSchema,
  authBytes: Count,
  statusBytes: Count,
  viewerBytes: Count,
  totalBytes: Count
})

/** Answer of `GET /api/health`. A part that could not be read (its dependency is down) is null. */
export const HealthSchema = Type.Object({
  status: Type.Enum(['ok', 'degraded'], { description: '`degraded` when the database or Redis is down or no worker is alive' }),
  version: Type.String(),
  revision: Type.Union([Type.String(), Type.Null()], {
    description: 'The build\'s git revision: GIT_REVISION, else `git rev-parse HEAD` read at start from a checkout, else null'
  }),
  uptime: Type.Number({ description: 'Seconds since this node started' }),
  checks: Type.Object({
    database: CheckSchema,
    redis: CheckSchema,
    workers: Type.Object({ status: Type.Enum(['ok', 'down']), alive: Count })
  }),
  stats: Type.Object({
    sessions: Nullable(Type.Object({ total: Count, connected: Count })),
    statuses: Nullable(Type.Object({ last24h: Count })),
    viewers: Nullable(Type.Object({ total: Count })),
    uploads: Nullable(Type.Object({ count: Count, bytes: Count })),
    queues: Nullable(Type.Object({
      ...JobCounts,
      scheduledStatuses: Type.Object(JobCounts, {
        description: 'The deployment\'s `scheduled-statuses` queue (addition): `delayed` are scheduled statuses waiting for their time (or for their session, within SCHEDULE_GRACE_MINUTES). `failed` is always 0: a firing job that fails is removed at once (`removeOnFail`), the maintenance queues it again'
      }),
      webhooks: Type.Object(JobCounts, {
        description: 'The deployment\'s `webhooks` queue (addition): deliveries to send, `delayed` waiting for their next attempt'
      })
    }, {
      description: '`waiting`, `active`, `delayed` and `failed` are summed over the command queues of the live workers; the deployment\'s own queues are counted apart'
    }))
  }),
  storage: Type.Union([Type.Array(SessionStorageSchema), Type.Null()]),
  workers: Type.Union([Type.Array(Type.Object({
    id: Type.String(),
    sessions: Type.Integer({ minimum: 0, description: 'Sessions the worker owns in the registry' })
  })), Type.Null()], { description: 'Each live worker, by id' })
})
export type Health = Static<typeof HealthSchema>
