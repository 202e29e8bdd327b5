import type { Session as SessionRow } from '@wss/db'
import { AppError, type OwnerRecord, type Session, type SessionState } from '@wss/shared'
import type { ConnectionStatus } from '../../../schemas/sessions.ts'

/** A session row and its owner record, read together (one DB read, one registry read). */
export interface SessionView { row: SessionRow, owner: OwnerRecord | null }

/**
 * True while the row says connected, its owner's lease holds, and that owner is the one whose
 * generation the row carries: `connected` never outlives the owner, nor shows before a new owner's
 * own socket opened (a claim bumps the row's generation and resets `connected` in one statement).
 */
export function isConnected ({ row, owner }: SessionView): boolean {
  return row.state === 'connected' && owner?.alive === true && owner.generation !== null && owner.generation === row.generation
}

// A connected row whose owner's lease lapsed reports `disconnected`, so `state` and
// `connected` never contradict each other.
function reportedState (view: SessionView): SessionState {
  return view.row.state === 'connected' && !isConnected(view) ? 'disconnected' : view.row.state
}

/** The session object of the API. Codes and QR are only shown while the session is not connected. */
export function toSession (view: SessionView): Session {
  const { row } = view
  const linked = row.state === 'connected'
  return {
    sessionId: row.id,
    sessionName: row.name,
    authMethod: row.authMethod,
    state: reportedState(view),
    connected: isConnected(view),
    pairingCode: linked ? null : row.pairingCode,
    qrCode: linked ? null : row.qrCode,
    phoneNumber: row.phoneNumber,
    ownNumber: row.ownNumber,
    lastError: row.lastError,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString()
  }
}

/** The connection status of the API: the session object without its name and dates. */
export function toConnectionStatus (view: SessionView): ConnectionStatus {
  const session = toSession(view)
  return {
    sessionId: session.sessionId,
    connected: session.connected,
    authMethod: session.authMethod,
    state: session.state,
    pairingCode: session.pairingCode,
    qrCode: session.qrCode,
    phoneNumber: session.phoneNumber,
    ownNumber: session.ownNumber,
    lastError: session.lastError
  }
}

export function notFound (sessionId: string): AppError {
  return new AppError('SESSION_NOT_FOUND', `Session ${sessionId} not found`)
}

export function requirePairing (view: SessionView): void {
  if (view.row.authMethod !== 'pairing') {
    throw new AppError('SESSION_NOT_PAIRING', `Session ${view.row.id} links with a QR code, not a pairing code`)
  }
}

// The row's own claim counts here: a linked session's number cannot change, lease or not.
export function requireNotLinked (view: SessionView): void {
  if (view.row.state === 'connected') {
    throw new AppError('SESSION_ALREADY_CONNECTED', `Session ${view.row.id} is already connected`)
  }
}
