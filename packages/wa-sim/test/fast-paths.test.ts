// The fast paths of the Baileys patch (patches/README.md) are still taken: nothing else fails when
// one silently stops (a Baileys upgrade that moves the code they hook into), only the benchmarks slow
// down. A status to N contacts reads their Signal sessions in a constant number of key-store reads,
// not one per device; a burst of live status views is taken by the receipt interceptor (the
// socket's `interceptedFrames`), each receipt acknowledged, the acks batched into few writes (the
// WebSocket client's `sendStats`); frames sent and answers waited for format no stack trace; key
// stores share one AsyncLocalStorage.
import t from 'tap'
import { executionAsyncResource } from 'node:async_hooks'
import { addTransactionCapability, S_WHATSAPP_NET, type SignalKeyStore } from '@whiskeysockets/baileys'
import { startSimulator } from '../src/index.ts'
import { memoryKeyStore } from '../src/signal-store.ts'
import { cloneAuth, connectClient, exitWhenDone, linkClient, silentLogger } from '../src/testing.ts'

exitWhenDone(t)

/** The counters the Baileys patch exposes (not in Baileys' type declarations). */
interface FastPathCounters {
  interceptedFrames: Record<string, number>
  ws: { sendStats: { frames: number, writes: number } }
}

const CONTACTS = 30

t.test('fast paths of a status to 30 contacts and of its views', async t => {
  const s = await startSimulator()
  t.teardown(() => s.close())
  const sender = '15556660000'
  const contacts = Array.from({ length: CONTACTS }, (_, i) => String(15556660001 + i))
  for (const phone of [sender, ...contacts]) await s.client.createAccount(phone)
  await s.client.addContacts(sender, contacts)

  // Linked, then logged in again on a key store that counts its reads.
  const linked = await linkClient(s.settings, s.client, sender)
  const auth = cloneAuth(linked.auth)
  linked.end()
  await linked.closed
  const reads: Record<string, number> = {}
  const inner = memoryKeyStore(auth.keys)
  const keys: SignalKeyStore = {
    ...inner,
    get: (type, ids) => {
      reads[type] = (reads[type] ?? 0) + 1
      return inner.get(type, ids)
    }
  }
  const client = connectClient(s.settings, auth, { auth: { creds: auth.creds, keys } })
  t.teardown(() => client.end())
  await client.waitFor(u => u.connection === 'open')
  const sock = client.sock as typeof client.sock & FastPathCounters

  const audience = [sender, ...contacts].map(p => `${p}@s.whatsapp.net`)
  const sessionReads = async (text: string) => {
    const before = reads.session ?? 0
    const msg = await sock.sendMessage('status@broadcast', { text }, { statusJidList: audience, broadcast: true })
    const record = await s.client.status(sender, msg!.key.id!, 30_000)
    t.equal(record.recipients.filter(r => r.decrypted).length, CONTACTS + 1, `${text}: every phone decrypted it`)
    return { id: msg!.key.id!, reads: (reads.session ?? 0) - before }
  }

  // The first status builds a session per device from fetched key bundles: checked in one read
  // (validateSessions), read again in one batch before they are built (prefetchSessions), and not
  // looked up once more per device (the transaction remembers them absent).
  const first = await sessionReads('first status')
  t.ok(first.reads <= 4, `first status: ${first.reads} session reads for ${CONTACTS + 1} devices (one per device unpatched)`)
  // The next one finds every session: one read checks them all.
  const second = await sessionReads('second status')
  t.ok(second.reads <= 2, `second status: ${second.reads} session reads for ${CONTACTS + 1} devices`)

  // A burst of views while the device is online: one read receipt per contact.
  const taken = sock.interceptedFrames.receipt ?? 0
  const sent = { ...sock.ws.sendStats }
  const seen = new Set<string>()
  sock.ev.on('message-receipt.update', updates => { for (const u of updates) if (u.key.id === second.id) seen.add(u.receipt.userJid!) })
  // Receipts that reach an open event buffer still holding the send's own upsert are folded into
  // it (the worker's viewer recorder reads both, as here).
  sock.ev.on('messages.upsert', ({ messages }) => { for (const m of messages) if (m.key.id === second.id) for (const r of m.userReceipt ?? []) seen.add(r.userJid!) })
  t.same(await s.client.viewStatus(sender, second.id), { viewers: CONTACTS, delivered: CONTACTS, queued: 0 })
  for (let i = 0; i < 200 && ((await s.client.status(sender, second.id)).receiptAcks ?? 0) < CONTACTS; i++) await new Promise(resolve => setTimeout(resolve, 50))
  t.equal((await s.client.status(sender, second.id)).receiptAcks, CONTACTS, 'every receipt acknowledged to the server')
  for (let i = 0; i < 200 && seen.size < CONTACTS; i++) await new Promise(resolve => setTimeout(resolve, 50))
  t.equal(seen.size, CONTACTS, 'every view reported (as a receipt update, or folded into the buffered upsert)')
  t.equal((sock.interceptedFrames.receipt ?? 0) - taken, CONTACTS, 'every receipt taken by the interceptor, none by the generic path')
  const frames = sock.ws.sendStats.frames - sent.frames
  const writes = sock.ws.sendStats.writes - sent.writes
  t.ok(frames >= CONTACTS, `${frames} frames sent (the acks)`)
  t.ok(writes * 4 <= frames, `in ${writes} writes: the acks of one tick share a write`)

  // Each frame sent and each answer waited for captures its caller's stack for a timeout error,
  // formatted (V8's prepareStackTrace) only if such an error is made: not for 20 pings.
  let formatted = 0
  const original = Error.prepareStackTrace
  Error.prepareStackTrace = (error, sites) => {
    formatted++
    return original ? original(error, sites) : `${String(error)}\n${sites.map(site => `    at ${String(site)}`).join('\n')}`
  }
  try {
    for (let i = 0; i < 20; i++) await sock.query({ tag: 'iq', attrs: { to: S_WHATSAPP_NET, type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] })
  } finally {
    Error.prepareStackTrace = original
  }
  t.equal(formatted, 0, '20 pings sent and answered without formatting a stack trace')
})

// Node < 24 copies the store of every enabled AsyncLocalStorage onto every new promise, under a
// symbol of that instance: an instance per key store (per socket) made every promise pay for every
// socket ever opened. (Node 24's AsyncContextFrame keeps no such symbols: nothing to count there.)
t.test('key stores share one AsyncLocalStorage: a new promise carries no more stores after 10 of them', async t => {
  const storesOnAPromise = async () => {
    await null
    return Object.getOwnPropertySymbols(executionAsyncResource()).filter(symbol => symbol.description === 'kResourceStore').length
  }
  const before = await storesOnAPromise()
  for (let i = 0; i < 10; i++) {
    const store: SignalKeyStore = { get: async () => ({}), set: async () => {} }
    const keys = addTransactionCapability(store, silentLogger, { maxCommitRetries: 1, delayBetweenTriesMs: 1 })
    await keys.transaction(async () => { await keys.get('session', ['1.0']) }, `store-${i}`)
  }
  const after = await storesOnAPromise()
  t.ok(after - before <= 1, `stores on a new promise: ${before} before, ${after} after 10 key stores ran a transaction`)
})
