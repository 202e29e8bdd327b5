import type { IncomingMessage, ServerResponse } from 'node:http'
import { SimError, type ProvisionRequest, type Simulator } from './simulator.ts'
import type { AccountState } from './state.ts'

type Params = Record<string, string>
type Handler = (ctx: { params: Params, body: any, query: URLSearchParams }) => unknown | Promise<unknown>

/** The public view of an account (no private keys). */
function accountView (a: AccountState) {
  return {
    phone: a.phone,
    lid: a.lid,
    name: a.name,
    jid: `${a.phone}@s.whatsapp.net`,
    lidJid: `${a.lid}@lid`,
    contacts: a.contacts,
    devices: Object.values(a.devices).map(d => ({ id: d.id, jid: `${a.phone}:${d.id}@s.whatsapp.net`, platform: d.platform, linkedAt: new Date(d.linkedAt).toISOString() }))
  }
}

const int = (v: unknown, name: string) => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new SimError(400, `${name} must be a non-negative integer`)
  return n
}
const str = (v: unknown, name: string) => {
  if (typeof v !== 'string' || !v) throw new SimError(400, `${name} is required`)
  return v
}
const key32 = (v: unknown, name: string) => {
  const bytes = Buffer.from(str(v, name), 'base64')
  if (bytes.length !== 32) throw new SimError(400, `${name} must be a base64 32-byte key`)
  return bytes
}
const bytesOf = (v: unknown, name: string) => {
  const bytes = Buffer.from(str(v, name), 'base64')
  if (bytes.length === 0) throw new SimError(400, `${name} must be base64 bytes`)
  return bytes
}
/** The body of `POST /sim/accounts/P/devices`: a companion's public keys, base64. */
function provisionRequest (body: any): ProvisionRequest {
  const skey = body.signedPreKey ?? {}
  const preKeys = body.preKeys ?? {}
  if (typeof preKeys !== 'object' || Array.isArray(preKeys)) throw new SimError(400, 'preKeys must be an object of id → base64 public key')
  return {
    noisePub: key32(body.noisePub, 'noisePub'),
    identityPub: key32(body.identityPub, 'identityPub'),
    registrationId: int(body.registrationId, 'registrationId'),
    signedPreKey: { keyId: int(skey.keyId, 'signedPreKey.keyId'), public: key32(skey.public, 'signedPreKey.public'), signature: bytesOf(skey.signature, 'signedPreKey.signature') },
    advSecret: key32(body.advSecret, 'advSecret'),
    preKeys: Object.fromEntries(Object.entries(preKeys).map(([id, pub]) => [String(int(id, 'preKeys id')), key32(pub, `preKeys.${id}`)]))
  }
}
const phoneOf = (v: unknown, name = 'phone') => {
  const digits = str(v, name).replace(/[\s()+-]/g, '')
  if (!/^\d{6,15}$/.test(digits)) throw new SimError(400, `${name} must be 6-15 digits`)
  return digits
}

type Route = [string, RegExp, string[], Handler]
type AddRoute = (method: string, path: string, handler: Handler) => void
type Extra = { info: () => unknown, save: (path?: string) => Promise<string>, failNextUploads: (count: number) => number }

/** Routes of the control API, all under /sim. Documented in the package README. */
export function controlRoutes (sim: Simulator, extra: Extra) {
  const routes: Route[] = []
  const route: AddRoute = (method, path, handler) => {
    const names: string[] = []
    const re = new RegExp('^' + path.replace(/:(\w+)/g, (_, n: string) => { names.push(n); return '([^/]+)' }) + '$')
    routes.push([method, re, names, handler])
  }
  accountRoutes(route, sim, extra)
  connectionAndFaultRoutes(route, sim, extra)
  return (req: IncomingMessage, res: ServerResponse): Promise<boolean> => handle(routes, req, res)
}

/** The simulator's info, accounts, linking, statuses and views. */
function accountRoutes (route: AddRoute, sim: Simulator, extra: Extra) {
  route('GET', '/sim/info', () => extra.info())
  route('POST', '/sim/accounts', ({ body }) => accountView(sim.createAccount(phoneOf(body.phone), body.name, body.lid)))
  route('GET', '/sim/accounts', () => Object.values(sim.state.accounts).map(accountView))
  route('GET', '/sim/accounts/:phone', ({ params }) => accountView(sim.account(params.phone!)))
  route('POST', '/sim/accounts/:phone/contacts', ({ params, body }) => {
    if (!Array.isArray(body.phones)) throw new SimError(400, 'phones must be an array')
    sim.addContacts(params.phone!, body.phones.map((p: unknown) => phoneOf(p, 'phones[]')))
    return accountView(sim.account(params.phone!))
  })
  route('GET', '/sim/accounts/:phone/address-book', ({ params }) => sim.addressBook(params.phone!))
  route('POST', '/sim/accounts/:phone/address-book', ({ params, body }) => {
    if (!Array.isArray(body.contacts)) throw new SimError(400, 'contacts must be an array')
    sim.account(params.phone!)
    return sim.saveContacts(params.phone!, body.contacts.map((c: any) => ({ phone: phoneOf(c?.phone, 'contacts[].phone'), name: str(c?.name, 'contacts[].name') })))
  })
  route('PUT', '/sim/accounts/:phone/address-book/:other', ({ params, body }) => {
    const other = phoneOf(params.other, 'other')
    const name = str(body.name, 'name')
    sim.account(params.phone!)
    return sim.saveContacts(params.phone!, [{ phone: other, name }])
  })
  route('DELETE', '/sim/accounts/:phone/address-book/:other', ({ params }) => sim.removeContact(params.phone!, phoneOf(params.other, 'other')))
  route('GET', '/sim/accounts/:phone/pairing-code', ({ params }) => ({ pending: sim.pairingCodePending(params.phone!) }))
  route('POST', '/sim/accounts/:phone/pairing-code', ({ params, body }) => sim.enterPairingCode(params.phone!, str(body.code, 'code')))
  route('POST', '/sim/accounts/:phone/scan-qr', ({ params, body }) => sim.scanQr(params.phone!, str(body.qr, 'qr')))
  route('POST', '/sim/accounts/:phone/devices', ({ params, body }) => {
    const linked = sim.provisionDevice(params.phone!, provisionRequest(body))
    return { ...linked, deviceIdentity: linked.deviceIdentity.toString('base64') }
  })
  route('GET', '/sim/accounts/:phone/statuses', ({ params }) => sim.statuses(params.phone!))
  route('GET', '/sim/accounts/:phone/statuses/:id', async ({ params, query }) => {
    sim.account(params.phone!)
    const wait = query.has('waitMs') ? int(query.get('waitMs'), 'waitMs') : 0
    await sim.statuses(params.phone!)
    const match = (s: { sender: string, id: string }) => s.sender === params.phone && s.id === params.id
    if (wait > 0) return sim.waitForStatus(match, wait)
    const found = sim.state.statuses.find(match)
    if (!found) throw new SimError(404, `no status ${params.id!}`)
    return found
  })
  route('POST', '/sim/accounts/:phone/statuses/:id/views', ({ params, body }) => sim.viewStatus(params.phone!, params.id!, {
    viewers: body.viewers === undefined ? undefined : (Array.isArray(body.viewers) ? body.viewers.map((v: unknown) => phoneOf(v, 'viewers[]')) : (() => { throw new SimError(400, 'viewers must be an array') })()),
    at: body.at === undefined ? undefined : (typeof body.at === 'string' ? Date.parse(body.at) : int(body.at, 'at')),
    by: body.by === 'lid' ? 'lid' : 'pn',
    played: body.played
  }))
  route('POST', '/sim/accounts/:phone/instant-views', ({ params, body }) => {
    if (!Array.isArray(body.viewers)) throw new SimError(400, 'viewers must be an array')
    sim.viewNextStatusInstantly(params.phone!, body.viewers.map((v: unknown) => phoneOf(v, 'viewers[]')), body.by === 'lid' ? 'lid' : 'pn')
    return { armed: true }
  })
}

/** Connections, devices, faults and the saved state. */
function connectionAndFaultRoutes (route: AddRoute, sim: Simulator, extra: Extra) {
  route('GET', '/sim/connections', () => sim.connectionLog())
  route('GET', '/sim/accounts/:phone/devices/:device/connections', ({ params }) => sim.connectionLog(`${params.phone}:${params.device}`)[`${params.phone}:${params.device}`])
  route('POST', '/sim/accounts/:phone/devices/:device/logout', ({ params }) => { sim.logoutDevice(params.phone!, int(params.device, 'device')); return { loggedOut: true } })
  route('POST', '/sim/accounts/:phone/devices/:device/replace', ({ params }) => ({ replaced: sim.replaceDevice(params.phone!, int(params.device, 'device')) }))
  route('POST', '/sim/accounts/:phone/devices/:device/drop', ({ params }) => ({ dropped: sim.dropDevice(params.phone!, int(params.device, 'device')) }))
  route('POST', '/sim/accounts/:phone/drop', ({ params }) => { sim.account(params.phone!); return { dropped: sim.dropDevice(params.phone!) } })
  route('POST', '/sim/faults/refuse-connections', ({ body }) => { sim.refuseConnections(int(body.ms, 'ms')); return { refuseUntil: new Date(sim.faults.refuseUntil).toISOString() } })
  route('POST', '/sim/faults/foreign-leaf-key', ({ body }) => { sim.presentForeignLeafKey(body.on !== false); return { foreignLeafKey: sim.faults.foreignLeafKey } })
  route('POST', '/sim/faults/delay', ({ body }) => { sim.setDelay(body.phone ? phoneOf(body.phone) : '*', int(body.ms, 'ms')); return sim.faults.delayMs })
  route('POST', '/sim/faults/fail-uploads', ({ body }) => ({ remaining: extra.failNextUploads(body.count === undefined ? 1 : int(body.count, 'count')) }))
  route('POST', '/sim/faults/unanswered-lookups', ({ body }) => {
    sim.leaveLookupsUnanswered(Array.isArray(body.phones) ? body.phones.map(String) : [])
    return { phones: sim.faults.unansweredLookups }
  })
  route('POST', '/sim/accounts/:phone/faults/fail-app-state', ({ params, body }) => ({ remaining: sim.failAppStateSyncs(params.phone!, body.count === undefined ? 1 : int(body.count, 'count')) }))
  route('POST', '/sim/accounts/:phone/faults/hold-app-state', ({ params, body }) => ({ held: sim.holdAppStateSyncs(params.phone!, body.on !== false) }))
  route('POST', '/sim/accounts/:phone/faults/error-ack', ({ params, body }) => {
    sim.failNextMessages(params.phone!, String(body.code ?? '479'), body.count === undefined ? 1 : int(body.count, 'count'))
    return sim.faults.errorAcks[params.phone!]
  })
  route('POST', '/sim/state/save', async ({ body }) => ({ path: await extra.save(body.path) }))
}

/** Answers a request under /sim/ (resolves false for any other path). */
async function handle (routes: Route[], req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://x')
  if (!url.pathname.startsWith('/sim/')) return false
  const send = (status: number, payload: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(payload))
  }
  const match = routes.find(([m, re]) => m === req.method && re.test(url.pathname))
  if (!match) { send(404, { error: `no route ${req.method} ${url.pathname}` }); return true }
  const [, re, names, handler] = match
  const values = re.exec(url.pathname)!.slice(1).map(decodeURIComponent)
  const params = Object.fromEntries(names.map((n, i) => [n, values[i]!]))
  try {
    const body: any = req.method === 'POST' || req.method === 'PUT' ? await readJson(req) : {}
    const result = await handler({ params, body, query: url.searchParams })
    const linkFailed = result && typeof result === 'object' && 'linked' in result && (result as { linked: boolean }).linked === false
    send(linkFailed ? 422 : 200, result ?? {})
  } catch (err) {
    if (err instanceof SimError) send(err.status, { error: err.message })
    else send(500, { error: (err as Error).message })
  }
  return true
}

/** A POST body as JSON ({} when empty). */
async function readJson (req: IncomingMessage): Promise<any> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  const text = Buffer.concat(chunks).toString()
  if (!text) return {}
  try { return JSON.parse(text) } catch { throw new SimError(400, 'body is not JSON') }
}
