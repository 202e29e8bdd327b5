import { DisconnectReason } from '@whiskeysockets/baileys'
import type { Session } from '@wss/db'

/** What a closed connection means for the session. */
export type CloseAction =
  | { kind: 'restart' }
  | { kind: 'end', reason: string, state: Session['state'], lastError: string, clearAuth: boolean }
  | { kind: 'relink' }
  | { kind: 'reconnect' }

const preLinkCloses = new Set<number>([DisconnectReason.loggedOut, DisconnectReason.timedOut, DisconnectReason.connectionClosed, DisconnectReason.connectionLost])

/** Decides from the close code, and whether the device was ever linked, what the session does next. */
export function closeAction (code: number | undefined, linked: boolean): CloseAction {
  // Normal after pairing: a new socket logs in with the saved credentials.
  if (code === DisconnectReason.restartRequired) return { kind: 'restart' }
  // Another client took the device: never fight it.
  if (code === DisconnectReason.connectionReplaced) {
    return { kind: 'end', reason: 'replaced', state: 'disconnected', lastError: 'connection replaced by another client (440)', clearAuth: false }
  }
  // The phone removed the device: its credentials are void.
  if (linked && code === DisconnectReason.loggedOut) {
    return { kind: 'end', reason: 'logged-out', state: 'logged_out', lastError: 'logged out from the phone (401)', clearAuth: true }
  }
  // Before the first link a close is not a logout: start over with fresh credentials (a bounded number of times).
  if (!linked && code !== undefined && preLinkCloses.has(code)) return { kind: 'relink' }
  // 428, 408, 500, 503 and the rest.
  return { kind: 'reconnect' }
}

/** Capped, jittered exponential backoff: the delay before reconnect number `attempt` (from 0). */
export function reconnectDelay (config: { RECONNECT_BASE_MS: number, RECONNECT_MAX_MS: number }, attempt: number): number {
  const base = config.RECONNECT_BASE_MS * 2 ** Math.min(attempt, 16)
  return Math.min(config.RECONNECT_MAX_MS, base) * (0.5 + Math.random() / 2)
}
