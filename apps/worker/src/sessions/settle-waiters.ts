import type { Session } from '@wss/db'

/** What a caller waiting for a session to settle learns. */
export type Settled = { state: Session['state'], pairingCode: string | null, qrCode: string | null, lastError?: string | null }

const settledStates: ReadonlyArray<Session['state']> = ['awaiting_pairing', 'awaiting_qr', 'connected', 'logged_out', 'disconnected']

/** Whether the row shows a pairing code, a QR, a connection or a give-up. */
export function isSettled (row: Session | undefined): boolean {
  return !!row && settledStates.includes(row.state) && (row.state !== 'awaiting_pairing' || !!row.pairingCode)
}

/** Callers waiting for a session to settle: each is answered by the next notify, or with null after its timeout. */
export class SettleWaiters {
  private waiters: Array<(s: Settled) => void> = []

  wait (timeoutMs: number): Promise<Settled | null> {
    return new Promise(resolve => {
      const timer = setTimeout(() => { this.waiters = this.waiters.filter(w => w !== done); resolve(null) }, timeoutMs)
      const done = (s: Settled) => { clearTimeout(timer); resolve(s) }
      this.waiters.push(done)
    })
  }

  notify (s: Settled) {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w(s)
  }
}
