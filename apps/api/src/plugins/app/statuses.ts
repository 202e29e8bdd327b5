import fp from 'fastify-plugin'
import type { Status, StatusState } from '@wss/shared'
import type { MultiPostBody, PatchStatusBody, SendStatusBody } from '../../schemas/statuses.ts'
import { ADMIN_SCOPE, type KeyScope } from '../../lib/key-scope.ts'
import type { Page } from '../../lib/cursor.ts'
import { asStatus, findInSession } from './statuses/status-rows.ts'
import { listStatuses, listViewers } from './statuses/reads.ts'
import { patchStatus, removeStatus, sendStatus, type SendResult, type StatusActionsDeps } from './statuses/actions.ts'
import { postToSessions, type MultiPostResult } from './statuses/multi-post.ts'

export type { SendResult } from './statuses/actions.ts'
export type StatusesDeps = StatusActionsDeps

/** The statuses service: rows in Postgres, sends and revokes as commands to the session's owner. */
export function createStatusesService (deps: StatusesDeps) {
  return {
    /**
     * Validates, stores the status (pending) and asks the owner to send it. 201 once WhatsApp
     * acknowledged it, 202 while pending past `sendTimeoutMs`, 502 when WhatsApp refused it.
     */
    send: (sessionId: string, body: SendStatusBody, idempotencyKey?: string, scope: KeyScope = ADMIN_SCOPE): Promise<SendResult> =>
      sendStatus(deps, sessionId, body, idempotencyKey, scope),
    /**
     * One status per session (`sessionIds`, or `all` connected ones the key may use), all checked
     * before any is stored; answered once each is queued, without waiting for the acks.
     */
    post: (body: MultiPostBody, idempotencyKey?: string, scope: KeyScope = ADMIN_SCOPE): Promise<MultiPostResult> =>
      postToSessions(deps, body, idempotencyKey, scope),
    /**
     * Statuses of the last 24 hours (by sentAt, else createdAt), newest first, scheduled and cancelled
     * ones left out; with `state`, only that state (`scheduled`: all of them, soonest first).
     */
    list: (sessionId: string, page: Page | null, state?: StatusState) => listStatuses(deps, sessionId, page, state),
    get: async (sessionId: string, statusId: string): Promise<Status> => asStatus(await findInSession(deps, sessionId, statusId)),
    /** Who viewed a status, oldest view first. */
    viewers: (sessionId: string, statusId: string, page: Page | null) => listViewers(deps, sessionId, statusId, page),
    /** Changes the time or content of a scheduled status; 409 `STATUS_NOT_SCHEDULED` once it is not. */
    patch: (sessionId: string, statusId: string, body: PatchStatusBody, scope: KeyScope = ADMIN_SCOPE): Promise<Status> =>
      patchStatus(deps, sessionId, statusId, body, scope),
    /** Cancels a scheduled status; revokes any other on WhatsApp (through the owner), which marks it deleted. Deleting twice is a no-op. */
    remove: (sessionId: string, statusId: string): Promise<Status> => removeStatus(deps, sessionId, statusId)
  }
}

export type StatusesService = ReturnType<typeof createStatusesService>

declare module 'fastify' {
  interface FastifyInstance {
    statuses: StatusesService
  }
}

export default fp(async function statuses (fastify) {
  fastify.decorate('statuses', createStatusesService({
    prisma: fastify.prisma,
    sessions: fastify.sessions,
    commands: fastify.commands,
    sendTimeoutMs: fastify.config.SEND_TIMEOUT_MS,
    maxAudience: fastify.config.MAX_AUDIENCE,
    publish: fastify.publishEvent,
    now: Date.now,
    log: fastify.log.child({ service: 'statuses' })
  }))
}, { name: 'statuses', dependencies: ['sessions', 'command-bus', 'event-publisher'] })
