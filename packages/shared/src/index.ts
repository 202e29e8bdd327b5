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
  normalizePhoneNumber
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
  ValidationIssue
} from './api-schemas.ts'

export {
  EventName,
  EVENT_NAMES,
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
  EventPayloadSchemas,
  BusEventSchema,
  DEFAULT_REDIS_PREFIX,
  EVENTS_CHANNEL,
  eventsChannel,
  parseBusEvent,
  encodeBusEvent
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
  BusEvent
} from './events.ts'

export { ErrorCodes, ErrorMessages, AppError, isAppError } from './errors.ts'
export type { ErrorCode } from './errors.ts'

export {
  CommandName,
  CommandPayloadSchemas,
  CommandJobSchema,
  CommandReplySchema,
  ReplyToSchema,
  parseCommandJob,
  parseCommandReply,
  workerQueueName,
  bullPrefix,
  replyChannel
} from './commands.ts'
export type { CommandPayload, CommandJob, CommandReply, ReplyTo } from './commands.ts'

export { createOwnerRegistry, leastLoaded } from './ownership.ts'
export type { OwnerRecord, LiveWorker, OwnerRegistry } from './ownership.ts'
