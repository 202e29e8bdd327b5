/**
 * Helpers for tests and benchmarks that drive the real Baileys client against the simulator.
 * Production code never imports this: it only reads WA_WS_URL, WA_TRUST_ROOT and WA_MEDIA_CA.
 */
import {
  makeWASocket, initAuthCreds, BufferJSON, Browsers, configureSuccessfulPairing, Curve, DisconnectReason, S_WHATSAPP_NET, WA_CERT_DETAILS,
  type AuthenticationCreds, type BinaryNode, type ConnectionState, type WASocket
} from '@whiskeysockets/baileys'
import { Agent } from 'node:https'
import { Agent as FetchAgent, buildConnector } from 'undici'
import { memoryKeyStore } from './signal-store.ts'
import type { SimulatorSettings } from './index.ts'
import type { ProvisionRequestBody, ProvisionResultBody } from './client.ts'

/** A silent logger in the shape Baileys expects. */
export const silentLogger: any = {
  level: 'silent',
  child () { return silentLogger },
  trace () {}, debug () {}, info () {}, warn () {}, error () {}, fatal () {}
}

/** Auth state held in memory, serializable so a test can "restart" a client with the same creds. */
export interface MemoryAuth {
  creds: AuthenticationCreds
  keys: Record<string, Record<string, unknown>>
}

export const newMemoryAuth = (): MemoryAuth => ({ creds: initAuthCreds(), keys: {} })

/** Deep copy through BufferJSON, as a store that persists to disk would. */
export const cloneAuth = (auth: MemoryAuth): MemoryAuth => JSON.parse(JSON.stringify(auth, BufferJSON.replacer), BufferJSON.reviver)

/** Makes the Baileys module trust the simulator's certificate root (process-wide, as the product does at start-up). */
export function trustSimulator (settings: SimulatorSettings) {
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(settings.WA_TRUST_ROOT, 'base64')
}

export interface TestClient {
  sock: WASocket
  auth: MemoryAuth
  /** Every connection.update seen, in order. */
  updates: Partial<ConnectionState>[]
  /** Resolves with the first update matching the predicate (past or future). */
  waitFor (pred: (u: Partial<ConnectionState>) => boolean, timeoutMs?: number): Promise<Partial<ConnectionState>>
  /** Resolves with the status code of the close. */
  closed: Promise<number | undefined>
  end (): void
}

/** Opens one real Baileys socket against the simulator. */
export function connectClient (settings: SimulatorSettings, auth: MemoryAuth = newMemoryAuth(), extra: Record<string, unknown> = {}): TestClient {
  trustSimulator(settings)
  const sock = makeWASocket({
    waWebSocketUrl: settings.WA_WS_URL,
    auth: { creds: auth.creds, keys: memoryKeyStore(auth.keys) },
    logger: silentLogger,
    browser: Browsers.ubuntu('Chrome'),
    fetchAgent: new Agent({ ca: settings.WA_MEDIA_CA }),
    shouldSyncHistoryMessage: () => false,
    syncFullHistory: false,
    markOnlineOnConnect: false,
    fireInitQueries: false,
    generateHighQualityLinkPreview: false,
    ...extra
  })
  sock.ev.on('creds.update', update => { Object.assign(auth.creds, update) })
  const updates: Partial<ConnectionState>[] = []
  const waiters = new Set<{ pred: (u: Partial<ConnectionState>) => boolean, resolve: (u: Partial<ConnectionState>) => void }>()
  let resolveClosed!: (code: number | undefined) => void
  const closed = new Promise<number | undefined>(resolve => { resolveClosed = resolve })
  sock.ev.on('connection.update', update => {
    updates.push(update)
    for (const w of waiters) if (w.pred(update)) { waiters.delete(w); w.resolve(update) }
    if (update.connection === 'close') {
      resolveClosed((update.lastDisconnect?.error as { output?: { statusCode?: number } } | undefined)?.output?.statusCode)
    }
  })
  return {
    sock,
    auth,
    updates,
    closed,
    waitFor (pred, timeoutMs = 20_000) {
      const past = updates.find(pred)
      if (past) return Promise.resolve(past)
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (u: Partial<ConnectionState>) => { clearTimeout(timer); resolve(u) } }
        const timer = setTimeout(() => { waiters.delete(w); reject(new Error('timed out waiting for connection update')) }, timeoutMs)
        waiters.add(w)
      })
    },
    end () { sock.end(undefined) }
  }
}

/**
 * Links a fresh client to `phone`: QR or pairing code, then the 515 restart, then `open`.
 * Returns the logged-in client (the second socket) and its auth state.
 */
export async function linkClient (
  settings: SimulatorSettings,
  sim: { scanQr (phone: string, qr: string): Promise<{ linked: boolean }>, enterPairingCode (phone: string, code: string): Promise<{ linked: boolean }> },
  phone: string,
  method: 'qr' | 'code' = 'qr',
  extra: Record<string, unknown> = {}
): Promise<TestClient> {
  const auth = newMemoryAuth()
  const first = connectClient(settings, auth, extra)
  if (method === 'qr') {
    const { qr } = await first.waitFor(u => !!u.qr)
    const result = await sim.scanQr(phone, qr!)
    if (!result.linked) throw new Error('QR link failed')
  } else {
    // The client is registered once it shows its first QR; a pairing code can be requested from then on.
    await first.waitFor(u => !!u.qr)
    const code = await first.sock.requestPairingCode(phone)
    const result = await sim.enterPairingCode(phone, code)
    if (!result.linked) throw new Error('pairing code link failed')
  }
  const code = await first.closed
  if (code !== DisconnectReason.restartRequired) throw new Error(`expected 515 after pairing, got ${String(code)}`)
  const second = connectClient(settings, auth, extra)
  await second.waitFor(u => u.connection === 'open')
  return second
}

/** What `provisionAuth` needs of the control API. */
export interface ProvisionApi {
  provisionDevice (phone: string, device: ProvisionRequestBody): Promise<ProvisionResultBody>
}

/**
 * A linked device's auth state without a QR code: fresh credentials with real keys (as a client
 * generates them), linked by the phone as a scan would (`POST /sim/accounts/P/devices`), and made
 * into credentials by Baileys' own `configureSuccessfulPairing` (which checks the HMAC and the
 * account's signature, and signs the device's). `preKeys` one-time pre-keys are generated and given
 * to the server, as the first login uploads them (812 there): any count above Baileys' minimum (5)
 * makes a login check them and upload none. For benchmarks that need thousands of linked devices.
 */
export async function provisionAuth (sim: ProvisionApi, phone: string, preKeys = 30): Promise<MemoryAuth & { jid: string, lid: string }> {
  const auth = newMemoryAuth()
  const { creds } = auth
  const keyPairs: Record<string, { public: Uint8Array, private: Uint8Array }> = {}
  for (let id = 1; id <= preKeys; id++) keyPairs[String(id)] = Curve.generateKeyPair()
  const linked = await sim.provisionDevice(phone, {
    noisePub: Buffer.from(creds.noiseKey.public).toString('base64'),
    identityPub: Buffer.from(creds.signedIdentityKey.public).toString('base64'),
    registrationId: creds.registrationId,
    signedPreKey: { keyId: creds.signedPreKey.keyId, public: Buffer.from(creds.signedPreKey.keyPair.public).toString('base64'), signature: Buffer.from(creds.signedPreKey.signature).toString('base64') },
    advSecret: creds.advSecretKey,
    preKeys: Object.fromEntries(Object.entries(keyPairs).map(([id, pair]) => [id, Buffer.from(pair.public).toString('base64')]))
  })
  const stanza: BinaryNode = {
    tag: 'iq',
    attrs: { from: S_WHATSAPP_NET, type: 'set', id: 'provisioned', xmlns: 'md' },
    content: [{
      tag: 'pair-success',
      attrs: {},
      content: [
        { tag: 'device-identity', attrs: {}, content: Buffer.from(linked.deviceIdentity, 'base64') },
        { tag: 'platform', attrs: { name: linked.platform } },
        { tag: 'device', attrs: { jid: linked.jid, lid: linked.lid } }
      ]
    }]
  }
  Object.assign(creds, configureSuccessfulPairing(stanza, creds).creds)
  // The pre-keys are on the server, as after the first login's upload.
  creds.nextPreKeyId = preKeys + 1
  creds.firstUnuploadedPreKeyId = preKeys + 1
  auth.keys['pre-key'] = keyPairs
  return { ...auth, jid: linked.jid, lid: linked.lid }
}

/**
 * A fetch dispatcher for Baileys' downloads (`options: { dispatcher }`): Baileys addresses
 * history-sync blobs to WhatsApp's media host `mmg.whatsapp.net` (their proto carries only a path);
 * this sends those connections to the simulator's media host (`host:port`), trusting its certificate.
 */
export function mediaDispatcher (ca: string, mediaHost: string) {
  const tls = buildConnector({ ca })
  const target = new URL(`https://${mediaHost}`)
  return new FetchAgent({
    connect (opts, callback) {
      if (opts.hostname !== 'mmg.whatsapp.net') { tls(opts, callback); return }
      tls({ ...opts, hostname: target.hostname, host: target.host, port: target.port, servername: 'localhost' }, callback)
    }
  })
}

/**
 * Baileys leaves timers running after `end()` (a 30 s pre-key upload race among them):
 * end the test process as soon as the test is over instead of waiting for them.
 */
export function exitWhenDone (t: { teardown (fn: () => void): void }) {
  t.teardown(() => { setTimeout(() => process.exit(), 200).unref() })
}
