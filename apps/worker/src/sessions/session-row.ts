import { jidDecode, type WASocket } from '@whiskeysockets/baileys'
import type { Session } from '@wss/db'

/** The session columns a runtime writes (fenced by its generation). */
export type SessionWrite = Partial<Pick<Session, 'state' | 'pairingCode' | 'qrCode' | 'ownNumber' | 'ownLid' | 'lastError' | 'linkedAt' | 'phoneNumber'>>

/** The columns of a session whose socket just opened as `me`: no code or QR left, linked since the first open. */
export function connectedWrite (me: NonNullable<WASocket['user']>, row: Session): SessionWrite {
  return {
    state: 'connected',
    ownNumber: jidDecode(me.id)?.user ?? null,
    ownLid: me.lid ? (jidDecode(me.lid)?.user ?? null) : row.ownLid,
    pairingCode: null,
    qrCode: null,
    lastError: null,
    linkedAt: row.linkedAt ?? new Date()
  }
}

/** The `connection-status` event of a session row. */
export function connectionStatus (sessionId: string, row: Session) {
  return { sessionId, connected: row.state === 'connected', ownNumber: row.ownNumber, status: row.state }
}
