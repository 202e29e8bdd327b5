/* eslint-disable max-lines -- the simulated WhatsApp server is one class holding every account,
   device and connection; its protocol handlers share that state. Test tooling, never in production
   bundles; splitting it by stanza kind is open work. */
import {
  Curve, aesDecryptCTR, aesDecryptGCM, aesEncryptCTR, derivePairingCodeKey, encodeBigEndian, getBinaryNodeChild,
  getBinaryNodeChildBuffer, getBinaryNodeChildren, hkdf, hmacSign, jidDecode, proto, S_WHATSAPP_NET,
  type BinaryNode
} from '@whiskeysockets/baileys'
import { randomBytes } from 'node:crypto'
import type { WebSocket } from 'ws'
import { ADDRESS_BOOK_COLLECTION, appendContactPatch, newAppState, syncResponse } from './app-state.ts'
import { Connection } from './connection.ts'
import { keyShareMessage, phoneMessageNode, pushNamesMessage, serverSyncNode } from './phone-messages.ts'
import { decryptStatusForRecipients } from './status-decrypt.ts'
import { newKeyPair, type KeyPair } from './keys.ts'
import { buildCertChain, NoiseResponder } from './noise.ts'
import { newAccount, newState, type AccountState, type DeviceState, type SimState, type StatusRecord } from './state.ts'

const ACCOUNT_SIG_PREFIX = Buffer.from([6, 0])
/** The platform pair-success names (WhatsApp's own value for a companion linked from a phone). */
const PAIRED_PLATFORM = 'smba'
const QR_REFS = 6

/** One entry of a device's connection log. */
export interface ConnectionLogEntry {
  at: number
  event: 'connect' | 'login' | 'login-refused' | 'disconnect' | 'replaced' | 'logged-out' | 'dropped' | 'refused'
  connId?: number
  /** Authenticated connections of this device open right after the event. */
  open: number
  detail?: string
}

export interface DeviceLog {
  entries: ConnectionLogEntry[]
  open: number
  maxOpen: number
}

interface PendingCode {
  conn: Connection
  phone: string
  wrappedCompanionEphemeral: Buffer
  companionNoisePub: Buffer
  platform: string
  ref: Buffer
  /** Set when the phone side has answered, waiting for companion_finish. */
  primary?: { ephemeral: KeyPair, companionEphemeralPub: Buffer, account: AccountState, settle: (r: LinkResult) => void }
}

/** A companion device's public keys, as a client generates them, for {@link Simulator.provisionDevice}. */
export interface ProvisionRequest {
  noisePub: Buffer
  identityPub: Buffer
  registrationId: number
  signedPreKey: { keyId: number, public: Buffer, signature: Buffer }
  advSecret: Buffer
  /** One-time pre-keys (id → public key) the server hands to senders. */
  preKeys: Record<string, Buffer>
}

/** A provisioned device and the pair-success content it would have received. */
export interface ProvisionResult {
  linked: true
  jid: string
  lid: string
  deviceId: number
  /** ADVSignedDeviceIdentityHMAC bytes: pair-success's `device-identity`. */
  deviceIdentity: Buffer
  platform: string
}

/** The outcome of a link attempt made from a simulated phone. */
export type LinkResult = { linked: true, jid: string, lid: string, deviceId: number } | { linked: false, error: string }

export interface Faults {
  refuseUntil: number
  /** Delay before each reply, per account phone ('*' for all). */
  delayMs: Record<string, number>
  /** Error acks to answer the next messages of an account with. */
  errorAcks: Record<string, { code: string, remaining: number }>
  /**
   * Present a certificate chain whose leaf certifies a key other than the server's static key: a
   * validly signed chain replayed by a server that does not hold its key (a man in the middle).
   */
  foreignLeafKey: boolean
  /** Numbers whose contact lookups (usync `contact` by phone) are left out of the reply: asked, never answered. */
  unansweredLookups: string[]
  /** Accounts whose app-state syncs wait, unanswered, until the hold is lifted (a slow address-book download). */
  heldAppState: Record<string, Array<() => void>>
  /** App-state syncs of an account still to be answered with an error iq (a server failure; the connection stays up). */
  failAppState: Record<string, number>
}

type Waiter = { match: (s: StatusRecord) => boolean, resolve: (s: StatusRecord) => void }

export interface SimulatorOptions {
  /** host:port that media_conn announces (the HTTPS media host). */
  mediaHost: () => string
  /** Reads an uploaded media blob by its path (for recipients' downloads). */
  fetchMedia: (url: string) => Promise<Buffer>
  state?: SimState
  /**
   * Defer the recipients' decryption of statuses until something asks for them (a status query,
   * a view): a real server never decrypts, and a benchmark should not pay the phones' CPU while
   * it measures the sender. Off by default: statuses are decrypted as they arrive.
   */
  lazyDecrypt?: boolean
  /** Stores an encrypted blob on the media host and returns its direct path (history-sync blobs). */
  storeMedia?: (bytes: Buffer) => string
}

/** The simulated WhatsApp server and every simulated phone. Transport-agnostic: feed it WebSockets. */
export class Simulator {
  state: SimState
  readonly faults: Faults = { refuseUntil: 0, delayMs: {}, errorAcks: {}, foreignLeafKey: false, unansweredLookups: [], heldAppState: {}, failAppState: {} }
  /** Viewers who view an account's next status the moment it is acknowledged (phone → viewers). */
  private readonly instantViews = new Map<string, { viewers: string[], by: 'pn' | 'lid' }>()
  private readonly conns = new Set<Connection>()
  /** Logged-in connections by device ("phone:device"): a login finds the device's others without walking every connection. */
  private readonly byDevice = new Map<string, Set<Connection>>()
  private readonly logs = new Map<string, DeviceLog>()
  private readonly qrRefs = new Map<string, Connection>()
  private readonly pendingCodes = new Map<string, PendingCode>()
  private readonly offline = new Map<string, BinaryNode[]>()
  private readonly decrypting = new Map<string, Promise<void>>()
  private readonly statusWaiters = new Set<Waiter>()
  /** Address-book writes of each phone, chained: each patch builds on the previous one's LTHash. */
  private readonly addressBookWrites = new Map<string, Promise<unknown>>()
  /** App-state mutations and snapshot records answered to each account's devices (a resumed device reads only new ones). */
  private readonly mutationsServed = new Map<string, number>()
  private readonly decryptQueue = new Map<string, Promise<unknown>>()
  /** Decryptions not started yet (lazyDecrypt), in arrival order. */
  private deferred: Array<{ key: string, id: string, work: () => Promise<void> }> = []
  /** Accounts by LID (LIDs never change once an account exists). */
  private readonly byLid = new Map<string, AccountState>()

  constructor (private readonly opts: SimulatorOptions) {
    this.state = opts.state ?? newState()
  }

  /** The root public key (base64) a client must trust: the value of WA_TRUST_ROOT. */
  get trustRoot () { return this.state.root.public.toString('base64') }

  // ---------------------------------------------------------------- accounts

  createAccount (phone: string, name = `User ${phone}`, lid?: string): AccountState {
    if (this.state.accounts[phone]) throw new SimError(409, `account ${phone} exists`)
    const account = newAccount(phone, name, lid)
    this.state.accounts[phone] = account
    return account
  }

  account (phone: string): AccountState {
    const account = this.state.accounts[phone]
    if (!account) throw new SimError(404, `no account ${phone}`)
    return account
  }

  private accountByUser (user: string, server: string | undefined): AccountState | undefined {
    if (server === 'lid') return this.accountByLid(user)
    return this.state.accounts[user]
  }

  /** The account with this LID (indexed on first use; accounts are only ever added). */
  accountByLid (lid: string): AccountState | undefined {
    const known = this.byLid.get(lid)
    if (known) return known
    if (this.byLid.size !== Object.keys(this.state.accounts).length) {
      for (const a of Object.values(this.state.accounts)) this.byLid.set(a.lid, a)
    }
    return this.byLid.get(lid)
  }

  /** Makes each pair of the given phones contacts of each other. */
  addContacts (phone: string, others: string[]) {
    const account = this.account(phone)
    for (const other of others) {
      const peer = this.account(other)
      if (!account.contacts.includes(other)) account.contacts.push(other)
      if (!peer.contacts.includes(phone)) peer.contacts.push(phone)
    }
  }

  // ---------------------------------------------------------------- address book (app state)

  /** The phone's address book (in the order entries were first saved), its collection version and the mutations its devices read so far. */
  addressBook (phone: string) {
    const account = this.account(phone)
    return {
      version: account.appState?.version ?? 0,
      mutationsServed: this.mutationsServed.get(phone) ?? 0,
      entries: Object.entries(account.addressBook ?? {}).map(([p, name]) => ({ phone: p, name }))
    }
  }

  /**
   * Saves (or renames) contacts in the address book of `phone`: one `contact` SET patch each in the
   * phone's `critical_unblock_low` collection, then one `server_sync` notification to each linked device.
   */
  saveContacts (phone: string, entries: Array<{ phone: string, name: string }>) {
    return this.changeAddressBook(phone, entries)
  }

  /** Removes `other` from the address book of `phone` (a `contact` REMOVE patch, then `server_sync`). */
  removeContact (phone: string, other: string) {
    if (this.account(phone).addressBook?.[other] === undefined) throw new SimError(404, `${other} is not in the address book of ${phone}`)
    return this.changeAddressBook(phone, [{ phone: other, name: null }])
  }

  private changeAddressBook (phone: string, changes: Array<{ phone: string, name: string | null }>) {
    const account = this.account(phone)
    // Patches of one phone are written one after the other: each builds on the last one's LTHash.
    const previous = this.addressBookWrites.get(phone) ?? Promise.resolve()
    const write = previous.then(async () => {
      const app = (account.appState ??= newAppState())
      const book = (account.addressBook ??= {})
      for (const { phone: other, name } of changes) {
        const peer = this.state.accounts[other]
        await appendContactPatch(app, other, name === null ? null : { fullName: name, lidJid: peer ? `${peer.lid}@lid` : undefined })
        if (name === null) delete book[other]
        else book[other] = name
      }
      await this.notifyDevices(account, serverSyncNode(ADDRESS_BOOK_COLLECTION, app.version, randomBytes(8).toString('hex')))
      return this.addressBook(phone)
    })
    this.addressBookWrites.set(phone, write.catch(() => undefined))
    return write
  }

  /** Answers an app-state sync: the address book's snapshot or patches after the client's version. */
  private async onAppStateSync (conn: Connection, iq: BinaryNode) {
    // Held: answered on release, while the connection's other frames go on being served.
    const held = conn.phone ? this.faults.heldAppState[conn.phone] : undefined
    if (held) { held.push(() => { if (!conn.closed) void this.onAppStateSync(conn, iq).catch(() => conn.terminate()) }); return }
    if (conn.phone && this.faults.failAppState[conn.phone]) {
      if (--this.faults.failAppState[conn.phone]! === 0) delete this.faults.failAppState[conn.phone]
      return conn.send({ tag: 'iq', attrs: { from: S_WHATSAPP_NET, type: 'error', id: iq.attrs.id! }, content: [{ tag: 'error', attrs: { code: '500', text: 'internal-server-error' } }] })
    }
    const account = conn.phone ? this.state.accounts[conn.phone] : undefined
    const store = this.opts.storeMedia ?? (() => { throw new SimError(500, 'no media host to serve a snapshot') })
    const { node, served } = await syncResponse(account?.appState, iq, store)
    if (account) this.mutationsServed.set(account.phone, (this.mutationsServed.get(account.phone) ?? 0) + served)
    return this.result(conn, iq, [node])
  }

  /** Sends a node to every linked device of the account, or queues it until the device logs in. */
  private async notifyDevices (account: AccountState, node: BinaryNode) {
    for (const deviceId of Object.keys(account.devices)) await this.deliver(`${account.phone}:${deviceId}`, { ...node, attrs: { ...node.attrs } })
  }

  private async deliver (deviceKey: string, node: BinaryNode) {
    const conn = this.openConns(deviceKey)[0]
    if (conn) { await conn.send(node); return }
    const q = this.offline.get(deviceKey) ?? []
    q.push(node)
    if (q.length > 100_000) q.shift()
    this.offline.set(deviceKey, q)
  }

  /**
   * What the phone sends a device once, after it linked: the app-state sync key and the push names
   * of its contacts (history sync). No `server_sync`: reading the address book for the first time is
   * the device's to start (WhatsApp sends `server_sync` only when a collection changes).
   */
  private async syncNewDevice (account: AccountState, device: DeviceState) {
    if (device.contactsSentAt) return
    device.contactsSentAt = Date.now()
    const deviceKey = `${account.phone}:${device.id}`
    const app = (account.appState ??= newAppState())
    await this.deliver(deviceKey, await phoneMessageNode(account, device, keyShareMessage(app)))
    const people = [...new Set([...account.contacts, ...Object.keys(account.addressBook ?? {})])]
      .map(p => this.state.accounts[p]).filter((a): a is AccountState => !!a && a !== account)
    if (people.length && this.opts.storeMedia) {
      const history = await pushNamesMessage(people, this.opts.storeMedia)
      await this.deliver(deviceKey, await phoneMessageNode(account, device, history))
    }
  }

  // ---------------------------------------------------------------- connections

  /** Takes a new client WebSocket (path /ws/chat). */
  accept (ws: WebSocket) {
    const noise = new NoiseResponder(this.state.serverStatic, pub => buildCertChain(this.state, this.faults.foreignLeafKey ? newKeyPair().public : pub))
    const conn = new Connection(ws, noise, {
      onPayload: (c, p) => this.onPayload(c, p),
      onNode: (c, n) => this.onNode(c, n),
      onClose: c => this.onClose(c),
      replyDelayMs: c => (c.phone && this.faults.delayMs[c.phone]) || this.faults.delayMs['*'] || 0
    })
    this.conns.add(conn)
  }

  /** Whether new connections are refused right now (the "refuse connections" fault). */
  refusing () { return Date.now() < this.faults.refuseUntil }

  noteRefused () {
    this.log('*', { event: 'refused' })
  }

  private log (deviceKey: string, entry: Omit<ConnectionLogEntry, 'at' | 'open'>, delta = 0): DeviceLog {
    let log = this.logs.get(deviceKey)
    if (!log) { log = { entries: [], open: 0, maxOpen: 0 }; this.logs.set(deviceKey, log) }
    log.open += delta
    log.maxOpen = Math.max(log.maxOpen, log.open)
    log.entries.push({ at: Date.now(), open: log.open, ...entry })
    if (log.entries.length > 1000) log.entries.splice(0, log.entries.length - 1000)
    return log
  }

  /** The connection log of one device ("phone:device"), or every device's when no key is given. */
  connectionLog (deviceKey?: string): Record<string, DeviceLog> {
    if (deviceKey) return { [deviceKey]: this.logs.get(deviceKey) ?? { entries: [], open: 0, maxOpen: 0 } }
    return Object.fromEntries(this.logs)
  }

  private openConns (deviceKey: string) {
    return [...(this.byDevice.get(deviceKey) ?? [])].filter(c => !c.closed && !c.ending)
  }

  private onClose (conn: Connection) {
    this.conns.delete(conn)
    const same = conn.deviceKey ? this.byDevice.get(conn.deviceKey) : undefined
    if (same?.delete(conn) && same.size === 0) this.byDevice.delete(conn.deviceKey!)
    for (const [ref, c] of this.qrRefs) if (c === conn) this.qrRefs.delete(ref)
    for (const [phone, p] of this.pendingCodes) if (p.conn === conn && !p.primary) this.pendingCodes.delete(phone)
    if (conn.deviceKey) this.log(conn.deviceKey, { event: 'disconnect', connId: conn.id }, -1)
  }

  private async onPayload (conn: Connection, payload: proto.ClientPayload) {
    const pairing = payload.devicePairingData
    if (pairing && !payload.username) {
      const skeyId = Buffer.from(pairing.eSkeyId ?? [])
      conn.registration = {
        identityPub: Buffer.from(pairing.eIdent ?? []),
        registrationId: Buffer.from(pairing.eRegid ?? []).readUInt32BE(0),
        signedPreKey: {
          keyId: (skeyId[0]! << 16) | (skeyId[1]! << 8) | skeyId[2]!,
          public: Buffer.from(pairing.eSkeyVal ?? []),
          signature: Buffer.from(pairing.eSkeySig ?? [])
        },
        platform: 'web'
      }
      const refs: BinaryNode[] = []
      for (let i = 0; i < QR_REFS; i++) {
        const ref = randomBytes(18).toString('base64url')
        this.qrRefs.set(ref, conn)
        refs.push({ tag: 'ref', attrs: {}, content: Buffer.from(ref) })
      }
      await conn.send({
        tag: 'iq',
        attrs: { from: S_WHATSAPP_NET, type: 'set', id: conn.nextTag(), xmlns: 'md' },
        content: [{ tag: 'pair-device', attrs: {}, content: refs }]
      })
      return
    }
    const phone = String(payload.username ?? '')
    const deviceId = payload.device ?? 0
    const account = this.state.accounts[phone]
    const device = account?.devices[String(deviceId)]
    const deviceKey = `${phone}:${deviceId}`
    if (!account || !device || !conn.noisePub || !device.noisePub.equals(conn.noisePub)) {
      this.log(deviceKey, { event: 'login-refused', connId: conn.id, detail: 'unknown device' })
      await conn.sendAndClose({ tag: 'failure', attrs: { reason: '401', location: 'sim' } })
      return
    }
    // A second login of one device replaces the first, as WhatsApp does (440 on the old socket).
    for (const old of this.openConns(deviceKey)) {
      this.log(deviceKey, { event: 'replaced', connId: old.id })
      void old.sendAndClose({ tag: 'stream:error', attrs: {}, content: [{ tag: 'conflict', attrs: { type: 'replaced' } }] })
    }
    conn.deviceKey = deviceKey
    const same = this.byDevice.get(deviceKey)
    if (same) same.add(conn)
    else this.byDevice.set(deviceKey, new Set([conn]))
    conn.phone = phone
    conn.deviceId = deviceId
    this.log(deviceKey, { event: 'login', connId: conn.id }, +1)
    await conn.send({
      tag: 'success',
      attrs: {
        t: String(Math.floor(Date.now() / 1000)),
        lid: `${account.lid}@lid`,
        props: '1',
        abprops: '1',
        location: 'sim',
        creation: String(Math.floor(device.linkedAt / 1000))
      }
    })
    const queued = this.offline.get(deviceKey) ?? []
    this.offline.delete(deviceKey)
    for (const node of queued) await conn.send({ ...node, attrs: { ...node.attrs, offline: '1' } })
    await conn.send({ tag: 'ib', attrs: { from: S_WHATSAPP_NET }, content: [{ tag: 'offline', attrs: { count: String(queued.length) } }] })
    void this.syncNewDevice(account, device).catch(() => undefined)
  }

  // ---------------------------------------------------------------- nodes from clients

  private async onNode (conn: Connection, node: BinaryNode) {
    switch (node.tag) {
      case 'iq': return this.onIq(conn, node)
      case 'message': return this.onMessage(conn, node)
      case 'ack': return this.onAck(conn, node)
      default: // receipts, presence, ib: nothing to answer
    }
  }

  /** Counts the acks of status receipts: a real server delivers an unacknowledged receipt again. */
  private onAck (conn: Connection, node: BinaryNode) {
    if (node.attrs.class !== 'receipt' || node.attrs.to !== 'status@broadcast' || !conn.phone) return
    const status = this.state.statuses.find(s => s.sender === conn.phone && s.id === node.attrs.id)
    if (status) status.receiptAcks = (status.receiptAcks ?? 0) + 1
  }

  private result (conn: Connection, iq: BinaryNode, content?: BinaryNode[]) {
    return conn.send({ tag: 'iq', attrs: { from: S_WHATSAPP_NET, type: 'result', id: iq.attrs.id! }, content })
  }

  private async onIq (conn: Connection, iq: BinaryNode) {
    const child = Array.isArray(iq.content) ? (iq.content[0] as BinaryNode | undefined) : undefined
    if (iq.attrs.type === 'result' || iq.attrs.type === 'error') {
      if (child?.tag === 'pair-device-sign') {
        // Linking done: the client must restart with its new credentials.
        await conn.sendAndClose({ tag: 'stream:error', attrs: { code: '515' } })
      }
      return
    }
    const xmlns = iq.attrs.xmlns
    if (xmlns === 'encrypt') return this.onEncryptIq(conn, iq, child)
    if (xmlns === 'usync') return this.result(conn, iq, [this.usync(iq)])
    if (xmlns === 'w:sync:app:state') return this.onAppStateSync(conn, iq)
    if (xmlns === 'w:m' && child?.tag === 'media_conn') {
      return this.result(conn, iq, [{
        tag: 'media_conn',
        attrs: { auth: randomBytes(16).toString('base64url'), ttl: '3600', auth_ttl: '3600', max_buckets: '12' },
        content: [{ tag: 'host', attrs: { hostname: this.opts.mediaHost(), maxContentLengthBytes: String(100 * 1024 * 1024) } }]
      }])
    }
    if (xmlns === 'md' && child?.tag === 'link_code_companion_reg') return this.onLinkCode(conn, iq, child)
    if (xmlns === 'md' && child?.tag === 'remove-companion-device') {
      await this.result(conn, iq)
      if (conn.phone && conn.deviceId !== undefined) this.removeDevice(conn.phone, conn.deviceId, 'client logout')
      return
    }
    return this.result(conn, iq)
  }

  private async onEncryptIq (conn: Connection, iq: BinaryNode, child?: BinaryNode) {
    const device = this.connDevice(conn)
    switch (child?.tag) {
      case 'count':
        return this.result(conn, iq, [{ tag: 'count', attrs: { value: String(Object.keys(device?.preKeys ?? {}).length) } }])
      case 'digest':
        return this.result(conn, iq, [{ tag: 'digest', attrs: {} }])
      case 'rotate': {
        const skey = getBinaryNodeChild(child, 'skey')
        if (device && skey) device.signedPreKey = parseSignedKey(skey)
        return this.result(conn, iq)
      }
      case 'key':
        return this.result(conn, iq, [{ tag: 'list', attrs: {}, content: getBinaryNodeChildren(child, 'user').map(u => this.preKeyBundle(u.attrs.jid!)) }])
      default: {
        // Pre-key upload: registration, type, identity, list, skey.
        const list = getBinaryNodeChild(iq, 'list')
        if (device && list) {
          for (const key of getBinaryNodeChildren(list, 'key')) {
            const id = Buffer.from(getBinaryNodeChildBuffer(key, 'id')!)
            device.preKeys[String((id[0]! << 16) | (id[1]! << 8) | id[2]!)] = Buffer.from(getBinaryNodeChildBuffer(key, 'value')!)
          }
          const skey = getBinaryNodeChild(iq, 'skey')
          if (skey) device.signedPreKey = parseSignedKey(skey)
        }
        return this.result(conn, iq)
      }
    }
  }

  private connDevice (conn: Connection): DeviceState | undefined {
    if (!conn.phone || conn.deviceId === undefined) return undefined
    return this.state.accounts[conn.phone]?.devices[String(conn.deviceId)]
  }

  /** Answers a usync query: devices, LID and contact protocols. */
  private usync (iq: BinaryNode): BinaryNode {
    const usync = getBinaryNodeChild(iq, 'usync')!
    const query = getBinaryNodeChild(usync, 'query')
    const wants = new Set((Array.isArray(query?.content) ? query.content : []).map(n => (n as BinaryNode).tag))
    const users = getBinaryNodeChildren(getBinaryNodeChild(usync, 'list'), 'user')
    const out: BinaryNode[] = []
    for (const user of users) {
      let jid = user.attrs.jid
      let account: AccountState | undefined
      const contactNode = getBinaryNodeChild(user, 'contact')
      const asked = contactNode?.content === undefined ? undefined : Buffer.from(contactNode.content as Uint8Array).toString()
      if (asked !== undefined && this.faults.unansweredLookups.includes(asked.replace(/\D/g, ''))) continue
      if (jid) {
        const decoded = jidDecode(jid)
        account = decoded ? this.accountByUser(decoded.user, decoded.server) : undefined
      } else if (contactNode) {
        const phone = (asked ?? '').replace(/\D/g, '')
        account = this.state.accounts[phone]
        jid = `${phone}@s.whatsapp.net`
      }
      if (!jid) continue
      const content: BinaryNode[] = []
      if (wants.has('devices')) {
        const devices: BinaryNode[] = account
          ? [{ tag: 'device', attrs: { id: '0' } }, ...Object.values(account.devices).map(d => ({ tag: 'device', attrs: { id: String(d.id), 'key-index': String(d.keyIndex) } }))]
          : []
        content.push({ tag: 'devices', attrs: {}, content: [{ tag: 'device-list', attrs: {}, content: devices }] })
      }
      if (wants.has('lid') && account) content.push({ tag: 'lid', attrs: { val: `${account.lid}@lid` } })
      // Like WhatsApp, a lookup by phone echoes the number asked.
      if (wants.has('contact')) content.push({ tag: 'contact', attrs: { type: account ? 'in' : 'out' }, ...(asked === undefined ? {} : { content: Buffer.from(asked) }) })
      out.push({ tag: 'user', attrs: { jid: account && !user.attrs.jid ? `${account.phone}@s.whatsapp.net` : jid }, content })
    }
    return { tag: 'usync', attrs: { ...usync.attrs }, content: [{ tag: 'result', attrs: {} }, { tag: 'list', attrs: {}, content: out }] }
  }

  /** A pre-key bundle for a device jid (phone devices get a fresh one-time pre-key each time). */
  private preKeyBundle (jid: string): BinaryNode {
    const decoded = jidDecode(jid)
    const account = decoded ? this.accountByUser(decoded.user, decoded.server) : undefined
    const deviceId = decoded?.device ?? 0
    if (!account || (deviceId !== 0 && !account.devices[String(deviceId)])) {
      return { tag: 'user', attrs: { jid }, content: [{ tag: 'error', attrs: { code: '404', text: 'item-not-found' } }] }
    }
    const keyNode = (id: number, pub: Buffer): BinaryNode => ({
      tag: 'key', attrs: {}, content: [{ tag: 'id', attrs: {}, content: encodeBigEndian(id, 3) }, { tag: 'value', attrs: {}, content: pub }]
    })
    const skeyNode = (keyId: number, pub: Buffer, sig: Buffer): BinaryNode => ({
      tag: 'skey',
      attrs: {},
      content: [{ tag: 'id', attrs: {}, content: encodeBigEndian(keyId, 3) }, { tag: 'value', attrs: {}, content: pub }, { tag: 'signature', attrs: {}, content: sig }]
    })
    let reg: number, identity: Buffer, skey: BinaryNode, key: BinaryNode | undefined
    if (deviceId === 0) {
      const id = account.nextPreKeyId++
      const pair = newKeyPair()
      ;(account.keys['pre-key'] ??= {})[String(id)] = pair
      reg = account.registrationId
      identity = account.identity.public
      skey = skeyNode(account.signedPreKey.keyId, account.signedPreKey.keyPair.public, account.signedPreKey.signature)
      key = keyNode(id, pair.public)
    } else {
      const device = account.devices[String(deviceId)]!
      reg = device.registrationId
      identity = device.identityPub
      skey = skeyNode(device.signedPreKey.keyId, device.signedPreKey.public, device.signedPreKey.signature)
      const first = Object.keys(device.preKeys)[0]
      if (first) {
        key = keyNode(Number(first), device.preKeys[first]!)
        delete device.preKeys[first]
      }
    }
    const content: BinaryNode[] = [
      { tag: 'registration', attrs: {}, content: encodeBigEndian(reg) },
      { tag: 'type', attrs: {}, content: Buffer.from([5]) },
      { tag: 'identity', attrs: {}, content: identity },
      skey
    ]
    if (key) content.push(key)
    return { tag: 'user', attrs: { jid }, content }
  }

  // ---------------------------------------------------------------- linking

  private async onLinkCode (conn: Connection, iq: BinaryNode, reg: BinaryNode) {
    const stage = reg.attrs.stage
    const phone = (reg.attrs.jid ?? '').split('@')[0]!.split(':')[0]!
    if (stage === 'companion_hello') {
      const ref = randomBytes(16)
      this.pendingCodes.set(phone, {
        conn,
        phone,
        wrappedCompanionEphemeral: Buffer.from(getBinaryNodeChildBuffer(reg, 'link_code_pairing_wrapped_companion_ephemeral_pub')!),
        companionNoisePub: Buffer.from(getBinaryNodeChildBuffer(reg, 'companion_server_auth_key_pub')!),
        platform: Buffer.from(getBinaryNodeChildBuffer(reg, 'companion_platform_display') ?? Buffer.from('web')).toString(),
        ref
      })
      return this.result(conn, iq, [{ tag: 'link_code_companion_reg', attrs: {}, content: [{ tag: 'link_code_pairing_ref', attrs: {}, content: ref }] }])
    }
    if (stage === 'companion_finish') {
      const pending = this.pendingCodes.get(phone)
      if (!pending?.primary || pending.conn !== conn) {
        return conn.send({ tag: 'iq', attrs: { from: S_WHATSAPP_NET, type: 'error', id: iq.attrs.id! }, content: [{ tag: 'error', attrs: { code: '400', text: 'bad-request' } }] })
      }
      this.pendingCodes.delete(phone)
      const { ephemeral, companionEphemeralPub, account, settle } = pending.primary
      const wrapped = Buffer.from(getBinaryNodeChildBuffer(reg, 'link_code_pairing_wrapped_key_bundle')!)
      const companionIdentity = Buffer.from(getBinaryNodeChildBuffer(reg, 'companion_identity_public')!)
      const sharedEphemeral = Curve.sharedKey(ephemeral.private, companionEphemeralPub)
      let bundle: Buffer
      try {
        const key = hkdf(sharedEphemeral, 32, { salt: wrapped.subarray(0, 32), info: 'link_code_pairing_key_bundle_encryption_key' })
        bundle = aesDecryptGCM(wrapped.subarray(44), Buffer.from(key), wrapped.subarray(32, 44), Buffer.alloc(0))
      } catch {
        // The code typed on the phone did not match: the key bundle cannot be opened, nothing is linked.
        settle({ linked: false, error: 'wrong pairing code' })
        return conn.send({ tag: 'iq', attrs: { from: S_WHATSAPP_NET, type: 'error', id: iq.attrs.id! }, content: [{ tag: 'error', attrs: { code: '401', text: 'not-authorized' } }] })
      }
      if (!bundle.subarray(0, 32).equals(companionIdentity) || !bundle.subarray(32, 64).equals(account.identity.public)) {
        settle({ linked: false, error: 'key bundle mismatch' })
        return conn.send({ tag: 'iq', attrs: { from: S_WHATSAPP_NET, type: 'error', id: iq.attrs.id! }, content: [{ tag: 'error', attrs: { code: '401', text: 'not-authorized' } }] })
      }
      const random = bundle.subarray(64, 96)
      const identityShared = Curve.sharedKey(account.identity.private, companionIdentity)
      const advSecret = Buffer.from(hkdf(Buffer.concat([sharedEphemeral, identityShared, random]), 32, { info: 'adv_secret' }))
      await this.result(conn, iq)
      settle(await this.pairSuccess(conn, account, companionIdentity, advSecret, pending.companionNoisePub, pending.platform))
      return
    }
    return this.result(conn, iq)
  }

  /**
   * The person types the code shown by the client on the phone of `phone`.
   * Resolves once the client finished (or failed) the exchange.
   */
  async enterPairingCode (phone: string, code: string, timeoutMs = 15_000): Promise<LinkResult> {
    const account = this.account(phone)
    const pending = this.pendingCodes.get(phone)
    if (!pending || pending.conn.closed) throw new SimError(404, `no client is waiting for a pairing code for ${phone}`)
    if (pending.primary) throw new SimError(409, 'a code was already entered for this request')
    const typed = code.replace(/[^0-9A-Za-z]/g, '').toUpperCase()
    // The phone unwraps the companion's ephemeral key with the typed code; a wrong code yields garbage.
    const w = pending.wrappedCompanionEphemeral
    const companionEphemeralPub = aesDecryptCTR(w.subarray(48, 80), await derivePairingCodeKey(typed, w.subarray(0, 32)), w.subarray(32, 48))
    const ephemeral = newKeyPair()
    const salt = randomBytes(32)
    const iv = randomBytes(16)
    const wrappedPrimary = Buffer.concat([salt, iv, aesEncryptCTR(ephemeral.public, await derivePairingCodeKey(typed, salt), iv)])
    const result = new Promise<LinkResult>((resolve) => {
      const timer = setTimeout(() => { this.pendingCodes.delete(phone); resolve({ linked: false, error: 'client did not finish the exchange' }) }, timeoutMs)
      pending.primary = { ephemeral, companionEphemeralPub, account, settle: r => { clearTimeout(timer); resolve(r) } }
    })
    await pending.conn.send({
      tag: 'notification',
      attrs: { from: S_WHATSAPP_NET, type: 'link_code_companion_reg', id: pending.conn.nextTag(), t: String(Math.floor(Date.now() / 1000)) },
      content: [{
        tag: 'link_code_companion_reg',
        attrs: { stage: 'primary_hello' },
        content: [
          { tag: 'link_code_pairing_ref', attrs: {}, content: pending.ref },
          { tag: 'primary_identity_pub', attrs: {}, content: account.identity.public },
          { tag: 'link_code_pairing_wrapped_primary_ephemeral_pub', attrs: {}, content: wrappedPrimary }
        ]
      }]
    })
    return result
  }

  /** Whether a client waits for a pairing code to be typed on this phone. */
  pairingCodePending (phone: string) {
    const p = this.pendingCodes.get(phone)
    return !!p && !p.conn.closed && !p.primary
  }

  /** The phone of `phone` scans a QR string that a client emitted. */
  async scanQr (phone: string, qr: string): Promise<LinkResult> {
    const account = this.account(phone)
    const data = qr.includes('#') ? qr.slice(qr.indexOf('#') + 1) : qr
    const [ref, noiseB64, identityB64, advB64] = data.split(',')
    const conn = ref ? this.qrRefs.get(ref) : undefined
    if (!conn || conn.closed || !noiseB64 || !identityB64 || !advB64) throw new SimError(404, 'this QR code is not (or no longer) valid')
    if (!conn.noisePub?.equals(Buffer.from(noiseB64, 'base64'))) throw new SimError(400, 'QR code does not match its connection')
    for (const [r, c] of this.qrRefs) if (c === conn) this.qrRefs.delete(r)
    return this.pairSuccess(conn, account, Buffer.from(identityB64, 'base64'), Buffer.from(advB64, 'base64'), conn.noisePub, conn.registration?.platform ?? 'web')
  }

  private async pairSuccess (conn: Connection, account: AccountState, companionIdentity: Buffer, advSecret: Buffer, noisePub: Buffer, platform: string): Promise<LinkResult> {
    const reg = conn.registration
    if (!reg) return { linked: false, error: 'connection is not registering' }
    const { device, jid, lid, deviceIdentity } = this.addDevice(account, {
      noisePub, identityPub: companionIdentity, registrationId: reg.registrationId, signedPreKey: reg.signedPreKey, platform
    }, advSecret)
    await conn.send({
      tag: 'iq',
      attrs: { from: S_WHATSAPP_NET, type: 'set', id: conn.nextTag(), xmlns: 'md' },
      content: [{
        tag: 'pair-success',
        attrs: {},
        content: [
          { tag: 'device-identity', attrs: {}, content: deviceIdentity },
          { tag: 'platform', attrs: { name: PAIRED_PLATFORM } },
          { tag: 'device', attrs: { jid, lid } }
        ]
      }]
    })
    this.log(`${account.phone}:${device.id}`, { event: 'connect', connId: conn.id, detail: 'linked' })
    return { linked: true, jid, lid, deviceId: device.id }
  }

  /**
   * Links a companion device whose keys the caller generated, without a socket: what the phone does
   * when it scans that device's QR code (the same ADV identity, signed by the account, with the HMAC
   * of the device's ADV secret). For benchmarks that need thousands of linked devices, where a link
   * over a socket costs two Noise handshakes and the first login's 812 pre-keys. The answer carries
   * what pair-success would have: the caller makes it into credentials with Baileys' own
   * `configureSuccessfulPairing`, which checks the HMAC and the account's signature. `preKeys` are
   * the one-time pre-keys the device's first login would have uploaded.
   */
  provisionDevice (phone: string, companion: ProvisionRequest): ProvisionResult {
    const account = this.account(phone)
    const { advSecret, preKeys, ...keys } = companion
    const { device, jid, lid, deviceIdentity } = this.addDevice(account, { ...keys, platform: 'web' }, advSecret)
    Object.assign(device.preKeys, preKeys)
    this.log(`${account.phone}:${device.id}`, { event: 'connect', detail: 'provisioned' })
    return { linked: true, jid, lid, deviceId: device.id, deviceIdentity, platform: PAIRED_PLATFORM }
  }

  /** Adds a companion device to the account and signs its ADV identity, as the phone does when it links one. */
  private addDevice (account: AccountState, companion: Pick<DeviceState, 'noisePub' | 'identityPub' | 'registrationId' | 'signedPreKey' | 'platform'>, advSecret: Buffer) {
    const deviceId = account.nextDeviceId++
    const keyIndex = account.nextKeyIndex++
    const deviceDetails = proto.ADVDeviceIdentity.encode({ rawId: Math.floor(Math.random() * 2 ** 31), timestamp: Math.floor(Date.now() / 1000), keyIndex }).finish()
    const accountSignature = Curve.sign(account.identity.private, Buffer.concat([ACCOUNT_SIG_PREFIX, deviceDetails, companion.identityPub]))
    const signed = proto.ADVSignedDeviceIdentity.encode({ details: deviceDetails, accountSignatureKey: account.identity.public, accountSignature }).finish()
    const hmac = hmacSign(Buffer.from(signed), advSecret)
    const device: DeviceState = { id: deviceId, ...companion, preKeys: {}, keyIndex, linkedAt: Date.now() }
    account.devices[String(deviceId)] = device
    return {
      device,
      jid: `${account.phone}:${deviceId}@s.whatsapp.net`,
      lid: `${account.lid}:${deviceId}@lid`,
      deviceIdentity: Buffer.from(proto.ADVSignedDeviceIdentityHMAC.encode({ details: signed, hmac }).finish())
    }
  }

  // ---------------------------------------------------------------- faults and device management

  private deviceConns (phone: string, deviceId?: number) {
    return [...this.conns].filter(c => c.phone === phone && !c.closed && !c.ending && (deviceId === undefined || c.deviceId === deviceId))
  }

  /** The phone removes a linked device: 401 device_removed on its socket, and it can no longer log in. */
  logoutDevice (phone: string, deviceId: number) {
    const account = this.account(phone)
    if (!account.devices[String(deviceId)]) throw new SimError(404, `no device ${phone}:${deviceId}`)
    for (const conn of this.deviceConns(phone, deviceId)) {
      this.log(conn.deviceKey!, { event: 'logged-out', connId: conn.id })
      void conn.sendAndClose({ tag: 'stream:error', attrs: { code: '401' }, content: [{ tag: 'conflict', attrs: { type: 'device_removed' } }] })
    }
    this.removeDevice(phone, deviceId, 'removed from phone')
  }

  private removeDevice (phone: string, deviceId: number, detail: string) {
    const account = this.state.accounts[phone]
    if (!account?.devices[String(deviceId)]) return
    delete account.devices[String(deviceId)]
    this.offline.delete(`${phone}:${deviceId}`)
    this.log(`${phone}:${deviceId}`, { event: 'logged-out', detail })
  }

  /** Another client took over the device: 440 replaced on its socket. */
  replaceDevice (phone: string, deviceId: number) {
    const conns = this.deviceConns(phone, deviceId)
    for (const conn of conns) {
      this.log(conn.deviceKey!, { event: 'replaced', connId: conn.id })
      void conn.sendAndClose({ tag: 'stream:error', attrs: {}, content: [{ tag: 'conflict', attrs: { type: 'replaced' } }] })
    }
    return conns.length
  }

  /**
   * Drops the device's sockets without a word (the client sees 428). Without a device id, every
   * socket of the account goes, the one registering with a pairing code for it included.
   */
  dropDevice (phone: string, deviceId?: number) {
    const conns = this.deviceConns(phone, deviceId)
    const registering = deviceId === undefined ? this.pendingCodes.get(phone)?.conn : undefined
    if (registering && !registering.closed) {
      this.log(`${phone}:registering`, { event: 'dropped', connId: registering.id })
      registering.terminate()
    }
    for (const conn of conns) {
      this.log(conn.deviceKey!, { event: 'dropped', connId: conn.id })
      conn.terminate()
    }
    return conns.length + (registering ? 1 : 0)
  }

  /** Refuses every new connection for `ms` milliseconds. */
  refuseConnections (ms: number) { this.faults.refuseUntil = Date.now() + ms }

  /** New connections get a chain whose leaf certifies another key than the static key (see {@link Faults}). */
  presentForeignLeafKey (on: boolean) { this.faults.foreignLeafKey = on }

  /** Delays every reply to an account's devices ('*': every account). */
  setDelay (phone: string, ms: number) {
    if (ms > 0) this.faults.delayMs[phone] = ms
    else delete this.faults.delayMs[phone]
  }

  /** Holds the account's app-state syncs unanswered (`on`), or answers the held ones and stops holding. Returns how many were held. */
  holdAppStateSyncs (phone: string, on: boolean): number {
    this.account(phone)
    const held = this.faults.heldAppState[phone] ?? []
    if (on) { this.faults.heldAppState[phone] = held; return held.length }
    delete this.faults.heldAppState[phone]
    for (const release of held) release()
    return held.length
  }

  /** Answers the account's next `count` app-state syncs with an error iq (0 clears). */
  failAppStateSyncs (phone: string, count: number) {
    this.account(phone)
    if (count > 0) this.faults.failAppState[phone] = count
    else delete this.faults.failAppState[phone]
    return count
  }

  /** Leaves these numbers' contact lookups out of usync replies (an empty list clears). */
  leaveLookupsUnanswered (phones: string[]) { this.faults.unansweredLookups = phones.map(p => p.replace(/\D/g, '')) }

  /** The given contacts view the account's next status the moment the server acknowledges it. */
  viewNextStatusInstantly (phone: string, viewers: string[], by: 'pn' | 'lid' = 'pn') {
    this.account(phone)
    for (const v of viewers) this.account(v)
    this.instantViews.set(phone, { viewers, by })
  }

  /** Answers the account's next `count` messages with an error ack carrying `code`. */
  failNextMessages (phone: string, code: string, count = 1) {
    this.account(phone)
    this.faults.errorAcks[phone] = { code, remaining: count }
  }

  // ---------------------------------------------------------------- messages

  private async onMessage (conn: Connection, node: BinaryNode) {
    const id = node.attrs.id!
    const to = node.attrs.to ?? ''
    const phone = conn.phone
    const t = String(Math.floor(Date.now() / 1000))
    const fault = phone ? this.faults.errorAcks[phone] : undefined
    let error: string | undefined
    if (fault && fault.remaining > 0) {
      error = fault.code
      if (--fault.remaining === 0) delete this.faults.errorAcks[phone!]
    }
    await conn.send({ tag: 'ack', attrs: { class: 'message', id, from: to, t, ...(error ? { error } : {}) } })
    const instant = phone && !error && to === 'status@broadcast' && !node.attrs.edit ? this.instantViews.get(phone) : undefined
    if (instant) {
      // Receipts right behind the ack: the client still buffers its own upsert and folds them into it.
      this.instantViews.delete(phone!)
      for (const viewer of instant.viewers) {
        const v = this.state.accounts[viewer]
        if (!v) continue
        const participant = instant.by === 'lid' ? `${v.lid}@lid` : `${viewer}@s.whatsapp.net`
        await conn.send({ tag: 'receipt', attrs: { from: 'status@broadcast', id, participant, t, type: 'read' } })
      }
    }
    if (to !== 'status@broadcast' || !phone || conn.deviceId === undefined) return
    const account = this.state.accounts[phone]!
    const participants = getBinaryNodeChildren(getBinaryNodeChild(node, 'participants'), 'to').map(p => {
      const enc = getBinaryNodeChild(p, 'enc')!
      return { jid: p.attrs.jid!, type: enc.attrs.type!, ciphertext: Buffer.from(enc.content as Uint8Array) }
    })
    const skmsgNode = getBinaryNodeChildren(node, 'enc').find(e => e.attrs.type === 'skmsg')
    if (error) {
      this.recordStatus({ id, sender: phone, senderDevice: conn.deviceId, receivedAt: Date.now(), type: 'unknown', audience: participants.map(p => p.jid), recipients: [], ack: { error } })
      return
    }
    // Each recipient phone decrypts in arrival order (sender-key chains are sequential).
    const senderDevice = conn.deviceId
    const work = decryptStatusForRecipients({
      sim: this,
      sender: account,
      senderDevice,
      messageId: id,
      participants,
      skmsg: skmsgNode ? Buffer.from(skmsgNode.content as Uint8Array) : undefined,
      isEdit: node.attrs.edit
    })
    this.deferred.push({ key: phone, id, work })
    if (!this.opts.lazyDecrypt || this.statusWaiters.size > 0) this.startDecryption()
  }

  /** Starts every deferred decryption, each sender's in arrival order. */
  private startDecryption () {
    const items = this.deferred
    this.deferred = []
    for (const { key, id, work } of items) {
      const prev = this.decryptQueue.get(key) ?? Promise.resolve()
      const next = prev.then(() => work()).catch(() => undefined)
      this.decryptQueue.set(key, next)
      const done = next.then(() => undefined)
      this.decrypting.set(id, done)
      void done.finally(() => { if (this.decrypting.get(id) === done) this.decrypting.delete(id) })
    }
  }

  /** Resolves once every status received so far is decrypted. */
  private async decrypted () {
    this.startDecryption()
    await Promise.all([...this.decrypting.values()])
  }

  /** Called by the decryption step with a finished record. */
  recordStatus (record: StatusRecord) {
    // A large audience arrives as several stanzas with one message id: one status, more recipients.
    const existing = this.state.statuses.find(s => s.sender === record.sender && s.id === record.id)
    if (existing) {
      existing.audience.push(...record.audience)
      const known = new Set(existing.recipients.map(r => r.phone))
      existing.recipients.push(...record.recipients.filter(r => !known.has(r.phone)))
      existing.stanzas = (existing.stanzas ?? 1) + 1
      return
    }
    record.stanzas = 1
    this.state.statuses.push(record)
    for (const w of this.statusWaiters) if (w.match(record)) { this.statusWaiters.delete(w); w.resolve(record) }
  }

  /** Marks a status revoked (a `delete` sent by its author; a large audience gets it in several stanzas). */
  recordRevoke (sender: string, targetId: string, revokedFor: string[]) {
    const status = this.state.statuses.find(s => s.sender === sender && s.id === targetId)
    if (status) {
      status.revokedAt = Date.now()
      status.revokeStanzas = (status.revokeStanzas ?? 0) + 1
      status.revokedFor = [...new Set([...(status.revokedFor ?? []), ...revokedFor])]
    }
    for (const w of this.statusWaiters) if (status && w.match(status)) { this.statusWaiters.delete(w); w.resolve(status) }
  }

  fetchMedia (url: string) { return this.opts.fetchMedia(url) }

  /** Statuses an account sent, once every pending decryption finished. */
  async statuses (phone: string): Promise<StatusRecord[]> {
    this.account(phone)
    await this.decrypted()
    return this.state.statuses.filter(s => s.sender === phone)
  }

  /** Waits for a status matching `match` (already recorded or arriving within the timeout). */
  waitForStatus (match: (s: StatusRecord) => boolean, timeoutMs = 15_000): Promise<StatusRecord> {
    this.startDecryption()
    const found = this.state.statuses.find(match)
    if (found) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { match, resolve: s => { clearTimeout(timer); resolve(s) } }
      const timer = setTimeout(() => { this.statusWaiters.delete(waiter); reject(new SimError(408, 'no such status arrived in time')) }, timeoutMs)
      this.statusWaiters.add(waiter)
    })
  }

  // ---------------------------------------------------------------- viewers

  /**
   * Contacts view a status: read receipts (and `played` for video) go to every linked device of the sender,
   * or wait for the device to come back online. Viewers default to every recipient that decrypted it.
   */
  async viewStatus (sender: string, statusId: string, opts: { viewers?: string[], at?: number, by?: 'pn' | 'lid', played?: boolean } = {}) {
    const account = this.account(sender)
    await this.decrypted()
    const status = this.state.statuses.find(s => s.sender === sender && s.id === statusId)
    if (!status) throw new SimError(404, `no status ${statusId} from ${sender}`)
    const decrypted = status.recipients.filter(r => r.decrypted).map(r => r.phone)
    const viewers = opts.viewers ?? decrypted.filter(p => p !== sender)
    const received = new Set(decrypted)
    for (const v of viewers) if (!received.has(v)) throw new SimError(400, `${v} did not receive status ${statusId}`)
    const t = String(Math.floor((opts.at ?? Date.now()) / 1000))
    const played = opts.played ?? (status.type === 'video' || status.type === 'audio')
    let delivered = 0
    let queued = 0
    for (const deviceId of Object.keys(account.devices)) {
      const deviceKey = `${sender}:${deviceId}`
      const conns = this.openConns(deviceKey)
      for (const viewer of viewers) {
        const viewerAccount = this.account(viewer)
        const participant = opts.by === 'lid' ? `${viewerAccount.lid}@lid` : `${viewer}@s.whatsapp.net`
        const receipts: BinaryNode[] = [{ tag: 'receipt', attrs: { from: 'status@broadcast', id: statusId, participant, t, type: 'read' } }]
        if (played) receipts.push({ tag: 'receipt', attrs: { from: 'status@broadcast', id: statusId, participant, t, type: 'played' } })
        for (const receipt of receipts) {
          const withId = { ...receipt, attrs: { ...receipt.attrs } }
          if (conns[0]) { await conns[0].send(withId); delivered++ } else {
            const q = this.offline.get(deviceKey) ?? []
            q.push(withId)
            if (q.length > 100_000) q.shift()
            this.offline.set(deviceKey, q)
            queued++
          }
        }
      }
    }
    return { viewers: viewers.length, delivered, queued }
  }

  // ---------------------------------------------------------------- lifecycle

  /** Closes every client socket. */
  closeAll () {
    for (const conn of this.conns) conn.terminate()
    this.conns.clear()
    this.byDevice.clear()
  }
}

function parseSignedKey (skey: BinaryNode) {
  const id = Buffer.from(getBinaryNodeChildBuffer(skey, 'id')!)
  return {
    keyId: (id[0]! << 16) | (id[1]! << 8) | id[2]!,
    public: Buffer.from(getBinaryNodeChildBuffer(skey, 'value')!),
    signature: Buffer.from(getBinaryNodeChildBuffer(skey, 'signature')!)
  }
}

/** An error with the HTTP status the control API answers with. */
export class SimError extends Error {
  constructor (readonly status: number, message: string) { super(message) }
}
