import { createHash } from 'node:crypto'
import type { Status as StatusRow } from '@wss/db'
import { AppError } from '@wss/shared'
import { isConnected, type SessionView } from '../sessions.ts'
import type { StatusActionsDeps } from './actions.ts'
import type { MultiPostBody } from '../../../schemas/statuses.ts'
import { isUniqueViolation } from '../../../lib/db-errors.ts'
import { inScope, type KeyScope } from '../../../lib/key-scope.ts'
import { fieldError } from '../../../lib/validation.ts'
import { checkScheduleTime, requestHash, validateSend, type ValidSend } from '../../../lib/send-request.ts'
import { answer, dispatchAll, type PostedStatus } from './multi-dispatch.ts'
import { insertStatus, markUploadUsed, queueSchedule, requireList, requireUpload, statusData } from './status-writes.ts'

export interface MultiPostResult {
  statuses: PostedStatus[]
  /** True when an `Idempotency-Key` matched an earlier request. */
  replayed: boolean
}

/** Sessions one post may go to: the most `sessionIds` may list, and the most `"all"` may stand for. */
export const MAX_POST_SESSIONS = 1000

/** A saved list belongs to one session: a `list` audience needs exactly one session. */
function requireOneSessionForList (input: ValidSend, requested: MultiPostBody['sessionIds']): void {
  if (input.audience?.type !== 'list') return
  if (requested === 'all' || new Set(requested).size !== 1) {
    throw fieldError('body.audience', 'a list audience needs exactly one session: list ids belong to one session (use `contacts`, or one post per session)')
  }
}

const listed = (ids: string[]) => ids.slice(0, 20).join(', ') + (ids.length > 20 ? ` and ${ids.length - 20} more` : '')

/**
 * The sessions a request may post from: for a list, each within the key's scope (403 naming the
 * others) and existing (404 naming the missing ones); for `all`, every session of the key's scope.
 */
async function candidates (deps: StatusActionsDeps, requested: MultiPostBody['sessionIds'], scope: KeyScope): Promise<SessionView[]> {
  if (requested === 'all') return await deps.sessions.views(scope)
  const ids = [...new Set(requested)]
  const outside = ids.filter(id => !inScope(scope, id))
  if (outside.length > 0) {
    throw new AppError('FORBIDDEN', `This API key may not post from ${listed(outside)}: outside the key's scope`, { sessionIds: outside })
  }
  const views = await deps.sessions.views(scope, ids)
  const found = new Set(views.map(v => v.row.id))
  const missing = ids.filter(id => !found.has(id))
  if (missing.length > 0) throw new AppError('SESSION_NOT_FOUND', `Session(s) ${listed(missing)} not found`, { sessionIds: missing })
  return views
}

/**
 * The sessions the statuses go to: with `all`, those connected now (none: 409
 * `NO_CONNECTED_SESSIONS`); a list's must each be connected, unless the status is scheduled.
 */
function targets (views: SessionView[], requested: MultiPostBody['sessionIds'], scheduled: boolean): SessionView[] {
  if (requested === 'all') {
    const connected = views.filter(view => isConnected(view))
    if (connected.length === 0) throw new AppError('NO_CONNECTED_SESSIONS', 'None of the sessions this API key may use is connected')
    if (connected.length > MAX_POST_SESSIONS) {
      throw fieldError('body.sessionIds', `"all" is ${connected.length} connected sessions; at most ${MAX_POST_SESSIONS} per post: list them in several posts`)
    }
    return connected
  }
  if (scheduled) return views
  const down = views.filter(v => !isConnected(v)).map(v => v.row.id)
  if (down.length > 0) throw new AppError('SESSION_NOT_CONNECTED', `Session(s) ${listed(down)} not connected`, { sessionIds: down })
  return views
}

/** The fingerprint of a many-session post: the send's, and which sessions were asked for. */
function multiHash (input: ValidSend, requested: MultiPostBody['sessionIds']): string {
  const sessions = requested === 'all' ? 'all' : [...new Set(requested)].sort()
  return createHash('sha256').update(JSON.stringify(['multi', requestHash(input), sessions])).digest('hex')
}

/** The statuses an earlier request with this key made, re-queued if still pending; null when there was none. */
async function replay (deps: StatusActionsDeps, views: SessionView[], key: string, hash: string): Promise<MultiPostResult | null> {
  const rows = await deps.prisma.status.findMany({
    where: { sessionId: { in: views.map(v => v.row.id) }, idempotencyKey: key },
    orderBy: [{ createdAt: 'asc' }, { sessionId: 'asc' }]
  })
  if (rows.length === 0) return null
  const other = rows.find(r => r.requestHash !== hash)
  if (other !== undefined) {
    throw new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used with a different request: use a new key for a new post', { statusId: other.id })
  }
  // Rows an earlier answer named: one that cannot be queued now is failed, never undone.
  const settled = await dispatchAll(deps, rows, new Map(views.map(v => [v.row.id, v])), false)
  return { statuses: answer(settled), replayed: true }
}

/**
 * `POST /api/statuses`: one status per session, all checked before any is stored and stored in one
 * transaction, then each sent (or scheduled) as `send-status` would, without waiting for the acks.
 */
export async function postToSessions (deps: StatusActionsDeps, body: MultiPostBody, idempotencyKey: string | undefined, scope: KeyScope): Promise<MultiPostResult> {
  const { sessionIds: requested, ...fields } = body
  const input = validateSend(fields, deps.maxAudience)
  requireOneSessionForList(input, requested)
  const hash = multiHash(input, requested)
  const views = await candidates(deps, requested, scope)
  if (idempotencyKey !== undefined) {
    const earlier = await replay(deps, views, idempotencyKey, hash)
    if (earlier !== null) return earlier
  }
  const at = input.scheduledAt === null ? null : checkScheduleTime(input.scheduledAt, deps.now())
  const chosen = targets(views, requested, at !== null)
  await requireUpload(deps.prisma, input, scope)
  for (const view of chosen) await requireList(deps.prisma, view.row.id, input.audience)
  let rows: StatusRow[]
  try {
    // A list audience has exactly one session: written as send-status writes it, its list share-locked.
    rows = input.audience?.type === 'list'
      ? [await insertStatus(deps.prisma, chosen[0]!.row.id, input, idempotencyKey, hash)]
      : (await deps.prisma.$transaction([
          ...chosen.map(view => deps.prisma.status.create({ data: statusData(view.row.id, input, idempotencyKey, hash) })),
          ...markUploadUsed(deps.prisma, input.upload)
        ])).slice(0, chosen.length) as StatusRow[]
  } catch (err) {
    // A concurrent request with the same key won: answer what it made.
    if (idempotencyKey !== undefined && isUniqueViolation(err)) {
      const earlier = await replay(deps, views, idempotencyKey, hash)
      if (earlier !== null) return earlier
    }
    throw err
  }
  if (at !== null) {
    // One job Redis refuses undoes the whole post (503): jobs already queued find their row gone and do nothing.
    const undo = () => deps.prisma.status.deleteMany({ where: { id: { in: rows.map(r => r.id) }, state: 'scheduled' } })
    await Promise.all(rows.map(row => queueSchedule(deps, row, at, undo)))
  } else {
    rows = await dispatchAll(deps, rows, new Map(chosen.map(v => [v.row.id, v])), true)
  }
  deps.log.info({ sessions: rows.length, scheduled: at !== null }, 'status posted from many sessions')
  return { statuses: answer(rows), replayed: false }
}
