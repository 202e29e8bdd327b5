export {
  SESSION_ID_PATTERN,
  SessionIdSchema,
  SessionIdParamsSchema,
  StatusIdSchema,
  StatusIdParamsSchema,
  AuthMethodSchema,
  SessionStateSchema,
  SessionSchema,
  StatusTypeSchema,
  StatusStateSchema,
  StatusSchema,
  ViewerSchema,
  UploadResultSchema,
  ListQuerySchema,
  ValidationIssueSchema,
  ErrorEnvelopeSchema,
  ErrorEnvelope,
  Ok,
  normalizePhoneNumber,
  toStatus
} from './api-schemas.ts'
export type {
  SessionIdParams,
  StatusIdParams,
  AuthMethod,
  SessionState,
  Session,
  StatusType,
  StatusState,
  Status,
  Viewer,
  UploadResult,
  ListQuery,
  ValidationIssue,
  StatusRecord
} from './api-schemas.ts'

export {
  EventName,
  EVENT_NAMES,
  EVENTS_GAP,
  ConnectionStatusPayloadSchema,
  PairingCodePayloadSchema,
  QrCodePayloadSchema,
  StatusSentPayloadSchema,
  StatusViewersUpdatePayloadSchema,
  StatusDeletedPayloadSchema,
  StatusesUpdatedPayloadSchema,
  SessionCreatedPayloadSchema,
  SessionDeletedPayloadSchema,
  StatusFailedPayloadSchema,
  StatusProgressPayloadSchema,
  StatusCancelledPayloadSchema,
  WebhookDisabledPayloadSchema,
  EventPayloadSchemas,
  BusEventSchema,
  DEFAULT_REDIS_PREFIX,
  EVENTS_CHANNEL,
  eventsChannel,
  parseBusEvent,
  encodeBusEvent,
  sessionOf
} from './events.ts'
export type {
  EventPayload,
  ConnectionStatusPayload,
  PairingCodePayload,
  QrCodePayload,
  StatusSentPayload,
  StatusViewersUpdatePayload,
  StatusDeletedPayload,
  StatusesUpdatedPayload,
  SessionCreatedPayload,
  SessionDeletedPayload,
  StatusFailedPayload,
  StatusProgressPayload,
  StatusCancelledPayload,
  WebhookDisabledPayload,
  EventsGapPayload,
  BusEvent
} from './events.ts'

export { ErrorCodes, ErrorMessages, AppError, isAppError } from './errors.ts'
export type { ErrorCode } from './errors.ts'

export {
  CommandName,
  Commands,
  CommandJobSchema,
  CommandReplySchema,
  ReplyToSchema,
  SessionSettledSchema,
  encodeCommandReply,
  isCommandPayload,
  isCommandResult,
  parseCommandJob,
  parseCommandReply,
  workerQueueName,
  sendStatusJobId,
  COMMAND_JOB_OPTIONS,
  MAX_COMMAND_FORWARDS
} from './commands.ts'
export type { CommandPayload, CommandResult, CommandJob, CommandReply, ReplyTo, SessionSettled } from './commands.ts'

export { redisKeys, encodeOwner, decodeOwner, OWNER_SEPARATOR, PENDING_GENERATION } from './redis-keys.ts'
export type { RedisKeys, OwnerValue } from './redis-keys.ts'
export { registerScripts, ClaimResult } from './redis-scripts.ts'

export { createOwnerRegistry, reassertOwnership, renewWorkerLease, REASSERT_CHUNK } from './ownership.ts'
export type { OwnerRecord, LiveWorker, OwnerRegistry } from './ownership.ts'
export { ACCEPTED_MEDIA_DESCRIPTION, acceptedMedia } from './media-types.ts'
export type { AcceptedMedia, MediaKind } from './media-types.ts'
export { AudienceSpecSchema, AUDIENCE_LIST_ID_PATTERN, audienceListGoneReason, audienceTooLargeReason, failedStatusCode, parseAudienceSpec } from './audience.ts'
export type { AudienceSpec } from './audience.ts'
export { SCHEDULE_QUEUE, MAX_SCHEDULE_AHEAD_MS, ScheduledStatusJobSchema, parseScheduledStatusJob, scheduledJobId, SCHEDULE_JOB_OPTIONS } from './scheduled.ts'
export type { ScheduledStatusJob } from './scheduled.ts'
export { createRedisConnection, duplicateRedisConnection, parseRedisUrl, isCluster } from './redis-connection.ts'
export type { RedisClient, RedisTarget } from './redis-connection.ts'
