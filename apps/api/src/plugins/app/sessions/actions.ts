import type { FastifyBaseLogger } from 'fastify'
import type { PrismaClient, Session as SessionRow } from '@wss/db'
import { AppError, CommandName, isAppError, normalizePhoneNumber, type Session } from '@wss/shared'
import type { CommandBus } from '../command-bus.ts'
import type { PublishEvent } from '../event-publisher.ts'
import type { CreateSessionBody, PairingCode } from '../../../schemas/sessions.ts'
import { isUniqueViolation } from '../../../lib/db-errors.ts'
import { fieldError } from '../../../lib/validation.ts'
import type { SessionReads } from './reads.ts'
import { requireNotLinked, requirePairing, toSession } from './session-view.ts'

type AuthMethod = NonNullable<CreateSessionBody['authMethod']>

const INVALID_PHONE = 'must be a phone number with its country code: 10–15 digits (a leading +, spaces, dashes and parentheses are allowed)'

export interface SessionActionsDeps {
  prisma: PrismaClient
  commands: CommandBus
  publish: PublishEvent
  reads: SessionReads
  /** Forgets what is cached of a session once an action changed it. */
  changed: (sessionId: string) => void
  /** How long creation waits for the worker's first answer (code, QR or connection). */
  startWaitMs: number
  log: FastifyBaseLogger
}

// The number a new session links with, normalized; a pairing session needs one.
function creationPhoneNumber (input: CreateSessionBody, authMethod: AuthMethod): string | null {
  let phoneNumber: string | null = null
  if (input.phoneNumber !== undefined && input.phoneNumber.trim() !== '') {
    phoneNumber = normalizePhoneNumber(input.phoneNumber)
    if (phoneNumber === null) throw fieldError('body.phoneNumber', INVALID_PHONE)
  }
  if (authMethod === 'pairing' && phoneNumber === null) {
    throw fieldError('body.phoneNumber', 'is required when authMethod is pairing')
  }
  return phoneNumber
}

// The primary key decides a race between two creations of one id.
async function insertSession (prisma: PrismaClient, input: CreateSessionBody, authMethod: AuthMethod, phoneNumber: string | null): Promise<SessionRow> {
  try {
    return await prisma.session.create({
      data: { id: input.sessionId, name: input.sessionName, authMethod, phoneNumber, state: 'connecting' }
    })
  } catch (err) {
    if (isUniqueViolation(err)) throw new AppError('SESSION_EXISTS', `Session ${input.sessionId} already exists`)
    throw err
  }
}

async function announceCreated (publish: PublishEvent, row: SessionRow): Promise<void> {
  await publish('session-created', {
    sessionId: row.id,
    sessionName: row.name,
    authMethod: row.authMethod,
    state: row.state,
    phoneNumber: row.phoneNumber,
    createdAt: row.createdAt.toISOString()
  })
}

async function startCreated (deps: SessionActionsDeps, sessionId: string): Promise<void> {
  try {
    await deps.commands.send(CommandName.StartSession, { sessionId, reason: 'created' }, { waitMs: deps.startWaitMs })
  } catch (err) {
    if (!isAppError(err)) throw err
    if (err.code === 'NO_WORKER') {
      throw new AppError('NO_WORKER', `No worker is available to start session ${sessionId}; it is saved and starts once a worker is up`)
    }
    if (err.code === 'DEPENDENCY_UNAVAILABLE') throw err
    // WORKER_TIMEOUT: the start is queued and goes on; any other answer shows in the row.
    if (err.code !== 'WORKER_TIMEOUT') deps.log.warn({ sessionId, code: err.code }, 'worker refused to start the session')
  }
}

/**
 * Inserts the session (the primary key decides a race), announces it, asks a worker to
 * start it and waits up to `startWaitMs` for its first answer. The row is kept whatever
 * the worker does: a worker that joins later picks up a session nobody owns.
 */
export async function createSession (deps: SessionActionsDeps, input: CreateSessionBody): Promise<Session> {
  const authMethod = input.authMethod ?? 'pairing'
  const phoneNumber = creationPhoneNumber(input, authMethod)
  const row = await insertSession(deps.prisma, input, authMethod, phoneNumber)
  await announceCreated(deps.publish, row)
  await startCreated(deps, row.id)
  deps.changed(row.id)
  return toSession(await deps.reads.load(row.id))
}

/**
 * The owner (or any live worker) logs out, deletes the rows and announces it. With no
 * worker alive nothing can be connected, so the rows are deleted here.
 */
export async function removeSession (deps: SessionActionsDeps, sessionId: string): Promise<{ sessionId: string, deleted: true }> {
  await deps.reads.exists(sessionId)
  try {
    await deps.commands.send(CommandName.DeleteSession, { sessionId })
  } catch (err) {
    if (!isAppError(err) || err.code !== 'NO_WORKER') throw err
    const { count } = await deps.prisma.session.deleteMany({ where: { id: sessionId } })
    if (count > 0) await deps.publish('session-deleted', { sessionId })
  }
  deps.changed(sessionId)
  return { sessionId, deleted: true }
}

export async function restartSession (deps: SessionActionsDeps, sessionId: string): Promise<Session> {
  await deps.reads.exists(sessionId)
  await deps.commands.send(CommandName.RestartSession, { sessionId })
  deps.changed(sessionId)
  return toSession(await deps.reads.load(sessionId))
}

/** The worker stores the number and restarts the pairing with it. */
export async function updatePhoneNumber (deps: SessionActionsDeps, sessionId: string, input: string): Promise<Session> {
  const phoneNumber = normalizePhoneNumber(input)
  if (phoneNumber === null) throw fieldError('body.phoneNumber', INVALID_PHONE)
  const view = await deps.reads.load(sessionId)
  requirePairing(view)
  requireNotLinked(view)
  await deps.commands.send(CommandName.UpdatePhoneNumber, { sessionId, phoneNumber })
  deps.changed(sessionId)
  return toSession(await deps.reads.load(sessionId))
}

/** Asks the worker for a fresh code and answers it. */
export async function requestPairingCode (deps: SessionActionsDeps, sessionId: string): Promise<PairingCode> {
  const view = await deps.reads.load(sessionId)
  requirePairing(view)
  requireNotLinked(view)
  const { pairingCode } = await deps.commands.send(CommandName.RequestPairingCode, { sessionId })
  deps.changed(sessionId)
  return { sessionId, pairingCode, phoneNumber: view.row.phoneNumber }
}
