import { AsyncResource } from 'node:async_hooks'
import {
  decodePatches, decodeSyncdSnapshot, ensureLTHashStateVersion, extractSyncdPatches, newLTHashState, processSyncAction,
  type ChatMutation, type LTHashState, type WASocket
} from '@whiskeysockets/baileys'
import type { Logger } from 'pino'

/** The app-state collection that carries the address book (`contact` mutations). */
export const ADDRESS_BOOK = 'critical_unblock_low'
/** A collection served in more answers than this is not read to its end now (the next sync goes on). */
const MAX_ANSWERS = 100
/** Started from here, the first sync runs outside any key-store transaction of Baileys' (an AsyncLocalStorage context). */
const outside = new AsyncResource('wss.address-book-sync')

/**
 * Reads the phone's address book once after a link. WhatsApp gives a linked device its contacts by
 * app-state sync, but tells it of a change (`server_sync`) only when the phone's book changes; the
 * first read is the device's to start. Baileys starts it only after a RECENT history sync, which the
 * socket refuses (push names only), and its `resyncAppState` would hold the key-store transaction
 * that status sends take (keyed by the own JID) and Baileys' event buffer for every round trip of
 * the download. So the socket reads the collection itself with Baileys' own decoders, holding
 * neither: at the first open after the phone shared its app-state key, and at each later open until
 * it succeeds. The mutations go through Baileys' `processSyncAction`, so the address book arrives as
 * the `contacts.upsert` events the contact recorder already takes, and the collection's state is
 * stored as Baileys stores it, so the `server_sync` of a later change reads only the new patches.
 * Success is kept as `creds.accountSyncCounter` (Baileys' own mark of a device that has its data).
 */
export function bootstrapAddressBook (sock: WASocket, opts: { fetchOptions?: RequestInit, logger: Logger }) {
  let open = false
  let running = false
  const creds = sock.authState.creds
  const maybeStart = () => {
    if (!open || running || creds.accountSyncCounter || !creds.myAppStateKeyId) return
    running = true
    outside.runInAsyncScope(() => setImmediate(() => {
      syncAddressBook(sock, opts)
        .then(() => {
          if (open) sock.ev.emit('creds.update', { accountSyncCounter: (creds.accountSyncCounter ?? 0) + 1 })
        })
        .catch(err => opts.logger.warn({ err }, 'address book not read; the next connection tries again'))
        .finally(() => { running = false })
    }))
  }
  sock.ev.on('connection.update', ({ connection }) => {
    if (connection === 'close') open = false
    if (connection === 'open') { open = true; maybeStart() }
  })
  // The phone shares its key right after the link, usually after the socket opened.
  sock.ev.on('creds.update', ({ myAppStateKeyId }) => { if (myAppStateKeyId) maybeStart() })
}

/**
 * Reads the address-book collection from the stored version (from scratch: a snapshot) to its end,
 * verifying every MAC, stores the new state and reports each mutation. Resolves with the mutations read.
 */
export async function syncAddressBook (sock: WASocket, opts: { fetchOptions?: RequestInit, logger: Logger }): Promise<number> {
  const me = sock.authState.creds.me
  if (!me) throw new Error('the socket has no account yet')
  const keys = sock.authState.keys
  const appStateKey = async (id: string) => (await keys.get('app-state-sync-key', [id]))[id]
  const stored = (await keys.get('app-state-sync-version', [ADDRESS_BOOK]))[ADDRESS_BOOK]
  let state: LTHashState = stored ? ensureLTHashStateVersion(stored) : newLTHashState()
  // Mutations at or below the stored version were reported when it was stored.
  const reportedUpTo = stored ? state.version : undefined
  const mutations = new Map<string, ChatMutation>()
  for (let answer = 0; answer < MAX_ANSWERS; answer++) {
    const result = await sock.query({
      tag: 'iq',
      attrs: { to: '@s.whatsapp.net', xmlns: 'w:sync:app:state', type: 'set' },
      content: [{ tag: 'sync', attrs: {}, content: [{ tag: 'collection', attrs: { name: ADDRESS_BOOK, version: String(state.version), return_snapshot: String(!state.version) } }] }]
    })
    const collection = (await extractSyncdPatches(result, opts.fetchOptions ?? {}))[ADDRESS_BOOK]
    if (!collection) break
    if (collection.snapshot) {
      const decoded = await decodeSyncdSnapshot(ADDRESS_BOOK, collection.snapshot, appStateKey, reportedUpTo, true, opts.logger)
      state = decoded.state
      for (const [index, m] of Object.entries(decoded.mutationMap)) mutations.set(index, m)
    }
    if (collection.patches.length) {
      const decoded = await decodePatches(ADDRESS_BOOK, collection.patches, state, appStateKey, opts.fetchOptions ?? {}, reportedUpTo, opts.logger, true)
      state = decoded.state
      for (const [index, m] of Object.entries(decoded.mutationMap)) mutations.set(index, m)
    }
    if (collection.snapshot || collection.patches.length) await keys.set({ 'app-state-sync-version': { [ADDRESS_BOOK]: state } })
    if (!collection.hasMorePatches) break
  }
  for (const m of mutations.values()) processSyncAction(m, sock.ev, me, undefined, opts.logger as never)
  opts.logger.info({ version: state.version, mutations: mutations.size }, 'address book read from the phone')
  return mutations.size
}
