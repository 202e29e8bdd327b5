import type { DeviceLog, LinkResult } from './simulator.ts'
import type { StatusRecord } from './state.ts'

export interface AccountView {
  phone: string
  lid: string
  name: string
  jid: string
  lidJid: string
  contacts: string[]
  devices: Array<{ id: number, jid: string, platform: string, linkedAt: string }>
}

/** An error answered by the control API. */
export class SimClientError extends Error {
  constructor (readonly status: number, message: string) { super(message) }
}

/** Typed client of the simulator's control API. */
export class SimClient {
  constructor (readonly baseUrl: string) {}

  private async call<T> (method: string, path: string, body?: unknown, okStatuses = [200]): Promise<T> {
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const payload = await res.json() as T & { error?: string }
    if (!okStatuses.includes(res.status)) throw new SimClientError(res.status, payload.error ?? `HTTP ${res.status}`)
    return payload
  }

  createAccount (phone: string, opts: { name?: string, lid?: string } = {}) { return this.call<AccountView>('POST', '/sim/accounts', { phone, ...opts }) }
  accounts () { return this.call<AccountView[]>('GET', '/sim/accounts') }
  account (phone: string) { return this.call<AccountView>('GET', `/sim/accounts/${phone}`) }
  addContacts (phone: string, phones: string[]) { return this.call<AccountView>('POST', `/sim/accounts/${phone}/contacts`, { phones }) }
  pairingCodePending (phone: string) { return this.call<{ pending: boolean }>('GET', `/sim/accounts/${phone}/pairing-code`) }
  /** Types a pairing code on the phone; resolves with the outcome (linked false for a wrong code). */
  enterPairingCode (phone: string, code: string) { return this.call<LinkResult>('POST', `/sim/accounts/${phone}/pairing-code`, { code }, [200, 422]) }
  scanQr (phone: string, qr: string) { return this.call<LinkResult>('POST', `/sim/accounts/${phone}/scan-qr`, { qr }, [200, 422]) }
  statuses (phone: string) { return this.call<StatusRecord[]>('GET', `/sim/accounts/${phone}/statuses`) }
  /** One status as its recipients decrypted it; waits up to waitMs for it to arrive. */
  status (phone: string, id: string, waitMs = 0) { return this.call<StatusRecord>('GET', `/sim/accounts/${phone}/statuses/${encodeURIComponent(id)}${waitMs ? `?waitMs=${waitMs}` : ''}`) }
  viewStatus (phone: string, id: string, opts: { viewers?: string[], at?: number | string, by?: 'pn' | 'lid', played?: boolean } = {}) {
    return this.call<{ viewers: number, delivered: number, queued: number }>('POST', `/sim/accounts/${phone}/statuses/${encodeURIComponent(id)}/views`, opts)
  }

  /** The viewers view P's next status the moment it is acknowledged (the early-receipt path). */
  viewNextStatusInstantly (phone: string, viewers: string[], by: 'pn' | 'lid' = 'pn') { return this.call<{ armed: boolean }>('POST', `/sim/accounts/${phone}/instant-views`, { viewers, by }) }
  connections () { return this.call<Record<string, DeviceLog>>('GET', '/sim/connections') }
  deviceConnections (phone: string, device: number) { return this.call<DeviceLog>('GET', `/sim/accounts/${phone}/devices/${device}/connections`) }
  logoutDevice (phone: string, device: number) { return this.call<{ loggedOut: boolean }>('POST', `/sim/accounts/${phone}/devices/${device}/logout`) }
  replaceDevice (phone: string, device: number) { return this.call<{ replaced: number }>('POST', `/sim/accounts/${phone}/devices/${device}/replace`) }
  dropDevice (phone: string, device: number) { return this.call<{ dropped: number }>('POST', `/sim/accounts/${phone}/devices/${device}/drop`) }
  /** Drops every socket of the account, a client registering with a pairing code for it included. */
  dropAll (phone: string) { return this.call<{ dropped: number }>('POST', `/sim/accounts/${phone}/drop`) }
  refuseConnections (ms: number) { return this.call<{ refuseUntil: string }>('POST', '/sim/faults/refuse-connections', { ms }) }
  /** New connections get a certificate chain whose leaf certifies another key than the server's static key. */
  presentForeignLeafKey (on = true) { return this.call<{ foreignLeafKey: boolean }>('POST', '/sim/faults/foreign-leaf-key', { on }) }
  delayReplies (ms: number, phone?: string) { return this.call<Record<string, number>>('POST', '/sim/faults/delay', { ms, phone }) }
  /** Contact lookups of these numbers get no answer in usync replies (`[]` clears). */
  leaveLookupsUnanswered (phones: string[]) { return this.call<{ phones: string[] }>('POST', '/sim/faults/unanswered-lookups', { phones }) }
  failNextMessages (phone: string, code = '479', count = 1) { return this.call<{ code: string, remaining: number }>('POST', `/sim/accounts/${phone}/faults/error-ack`, { code, count }) }
  saveState (path?: string) { return this.call<{ path: string }>('POST', '/sim/state/save', { path }) }
}
