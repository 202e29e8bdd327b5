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

/** A companion device's public keys, base64, for `provisionDevice` (see the README). */
export interface ProvisionRequestBody {
  noisePub: string
  identityPub: string
  registrationId: number
  signedPreKey: { keyId: number, public: string, signature: string }
  advSecret: string
  preKeys?: Record<string, string>
}

/** A provisioned device: its jids and pair-success's `device-identity` (base64). */
export interface ProvisionResultBody { linked: true, jid: string, lid: string, deviceId: number, deviceIdentity: string, platform: string }

/** A phone's address book as the control API shows it. */
export interface AddressBookView {
  version: number
  /** App-state mutations (patches and snapshot records) the account's devices read so far. */
  mutationsServed: number
  entries: Array<{ phone: string, name: string }>
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
  /** The phone's address book, its collection version and the app-state mutations its devices read so far. */
  addressBook (phone: string) { return this.call<AddressBookView>('GET', `/sim/accounts/${phone}/address-book`) }
  /** Saves (or renames) `other` in the phone's address book; its linked devices get a `server_sync`. */
  saveContact (phone: string, other: string, name: string) { return this.call<AddressBookView>('PUT', `/sim/accounts/${phone}/address-book/${other}`, { name }) }
  /** Saves many contacts at once (one patch each, one `server_sync`). */
  saveContacts (phone: string, contacts: Array<{ phone: string, name: string }>) { return this.call<AddressBookView>('POST', `/sim/accounts/${phone}/address-book`, { contacts }) }
  /** Removes `other` from the phone's address book. */
  removeContact (phone: string, other: string) { return this.call<AddressBookView>('DELETE', `/sim/accounts/${phone}/address-book/${other}`) }
  pairingCodePending (phone: string) { return this.call<{ pending: boolean }>('GET', `/sim/accounts/${phone}/pairing-code`) }
  /** Types a pairing code on the phone; resolves with the outcome (linked false for a wrong code). */
  enterPairingCode (phone: string, code: string) { return this.call<LinkResult>('POST', `/sim/accounts/${phone}/pairing-code`, { code }, [200, 422]) }
  scanQr (phone: string, qr: string) { return this.call<LinkResult>('POST', `/sim/accounts/${phone}/scan-qr`, { qr }, [200, 422]) }
  /** The phone links a device whose keys the caller generated, without a socket (what a QR scan does). */
  provisionDevice (phone: string, device: ProvisionRequestBody) { return this.call<ProvisionResultBody>('POST', `/sim/accounts/${phone}/devices`, device) }
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
  /** The media host answers the next `count` uploads 500. */
  failNextUploads (count = 1) { return this.call<{ remaining: number }>('POST', '/sim/faults/fail-uploads', { count }) }
  /** Contact lookups of these numbers get no answer in usync replies (`[]` clears). */
  leaveLookupsUnanswered (phones: string[]) { return this.call<{ phones: string[] }>('POST', '/sim/faults/unanswered-lookups', { phones }) }
  /** Answers P's next `count` app-state syncs with an error iq (0 clears). */
  failAppStateSyncs (phone: string, count = 1) { return this.call<{ remaining: number }>('POST', `/sim/accounts/${phone}/faults/fail-app-state`, { count }) }
  /** Holds P's app-state syncs unanswered (`on`), or answers the held ones (`false`); `held`: how many. */
  holdAppStateSyncs (phone: string, on = true) { return this.call<{ held: number }>('POST', `/sim/accounts/${phone}/faults/hold-app-state`, { on }) }
  failNextMessages (phone: string, code = '479', count = 1) { return this.call<{ code: string, remaining: number }>('POST', `/sim/accounts/${phone}/faults/error-ack`, { code, count }) }
  saveState (path?: string) { return this.call<{ path: string }>('POST', '/sim/state/save', { path }) }
}
