import { AsyncResource } from 'node:async_hooks'
import {
  decodePatches, decodeSyncdSnapshot, ensureLTHashStateVersion, extractSyncdPatches, getBinaryNodeChild, getBinaryNodeChildren,
  isMissingKeyError, newLTHashState, processSyncAction,
  type ChatMutation, type LTHashState, type WASocket
} from '@whiskeysockets/baileys'
import type { Logger } from 'pino'

/** The app-state collection that carries the address book (`contact` mutations). */
export const ADDRESS_BOOK = 'critical_unblock_low'
/** A collection served in more answers than this is not read to its end now (a retry goes on from there). */
const MAX_ANSWERS = 100
/** Started from here, the first sync runs outside any key-store transaction of Baileys' (an AsyncLocalStorage context). */
const outside = new AsyncResource('wss.address-book-sync')
/** After a failed read, while the socket stays open: tries again after these delays, then at the next open. */
const RETRY_DELAYS_MS = [30_000, 120_000, 600_000]

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
 * A failed read is tried again while the socket stays open (30 s, 2 min, 10 min), then at the next
 * open. Success is kept as `creds.accountSyncCounter`, Baileys' own mark of a device that has its
 * data; Baileys reads it only when it waits for a RECENT history sync, which this socket refuses
 * (were RECENT ever accepted, the mark would make Baileys skip that wait on a reconnect).
 */
export function bootstrapAddressBook (sock: WASocket, opts: { fetchOptions?: RequestInit, logger: Logger, retryDelaysMs?: number[] }) {
  const retryDelaysMs = opts.retryDelaysMs ?? RETRY_DELAYS_MS
  let open = false
  let running = false
  let failures = 0
  let fromScratch = false
  let retry: NodeJS.Timeout | undefined
  const creds = sock.authState.creds
  const maybeStart = () => {
    if (!open || running || creds.accountSyncCounter || !creds.myAppStateKeyId) return
    running = true
    clearTimeout(retry)
    outside.runInAsyncScope(() => setImmediate(() => {
      syncAddressBook(sock, { ...opts, fromScratch, isOpen: () => open })
        .then(() => {
          failures = 0
          fromScratch = false
          // Not on a socket that closed meanwhile: its creds are no longer saved.
          if (open) sock.ev.emit('creds.update', { accountSyncCounter: (creds.accountSyncCounter ?? 0) + 1 })
        })
        .catch((err: unknown) => {
          // A stored state that does not decode is read again from a snapshot, as Baileys does,
          // until a read succeeds.
          if (err instanceof DecodeFailed && !isMissingKeyError(err.cause as never)) fromScratch = true
          const delay = retryDelaysMs[failures++]
          opts.logger.warn({ err: briefly(err), fromScratch, retryInMs: open ? delay : undefined }, 'address book not read; tried again later')
          if (open && delay !== undefined) retry = setTimeout(maybeStart, delay).unref()
        })
        .finally(() => { running = false })
    }))
  }
  sock.ev.on('connection.update', ({ connection }) => {
    if (connection === 'close') { open = false; clearTimeout(retry) }
    if (connection === 'open') { open = true; failures = 0; maybeStart() }
  })
  // The phone shares its key right after the link, usually after the socket opened.
  sock.ev.on('creds.update', ({ myAppStateKeyId }) => { if (myAppStateKeyId) maybeStart() })
}

/** WhatsApp did not answer a sync request (Baileys' query resolves undefined on its timeout), or never finished. */
class NotAnswered extends Error {}
/** An answer that Baileys' decoders refused (a MAC, a key, a state that does not fit). */
class DecodeFailed extends Error {}
/** Baileys' event buffer is on (its own resync, the offline backlog): mutations reported now would wait in it. */
const BUFFER_POLL_MS = 100

/** What a failed read logs: Baileys' errors can carry every encrypted record of a snapshot. */
const briefly = (err: unknown) => ({ message: (err as Error)?.message, statusCode: (err as { output?: { statusCode?: number } })?.output?.statusCode })

/**
 * Reads the address-book collection from the stored version (from scratch, or with `fromScratch`:
 * a snapshot) to its end, verifying every MAC. Each answer's mutations are reported (to the contact
 * recorder, while the socket is open and Baileys' buffer off) before its state is stored, so a read
 * that fails half way reports them again next time rather than never. When
 * Baileys stored a newer state meanwhile (a `server_sync` resync, which reports what it read), this
 * read goes on from that state instead of reporting older values after newer ones. Resolves with the
 * mutations reported.
 */
export async function syncAddressBook (sock: WASocket, opts: { fetchOptions?: RequestInit, logger: Logger, fromScratch?: boolean, isOpen: () => boolean }): Promise<number> {
  const me = sock.authState.creds.me
  if (!me) throw new Error('the socket has no account yet')
  const keys = sock.authState.keys
  const appStateKey = async (id: string) => (await keys.get('app-state-sync-key', [id]))[id]
  const storedState = async () => {
    const stored = (await keys.get('app-state-sync-version', [ADDRESS_BOOK]))[ADDRESS_BOOK]
    return stored ? ensureLTHashStateVersion(stored) : undefined
  }
  const stored = await storedState()
  let state: LTHashState = (opts.fromScratch ? undefined : stored) ?? newLTHashState()
  // Mutations at or below the stored version were reported when it was stored.
  let reportedUpTo = opts.fromScratch ? undefined : stored?.version
  // The stored version this read knows of: another one means Baileys stored a newer state meanwhile.
  let known = stored?.version
  let reported = 0
  for (let answer = 0; answer < MAX_ANSWERS; answer++) {
    const result = await sock.query({
      tag: 'iq',
      attrs: { to: '@s.whatsapp.net', xmlns: 'w:sync:app:state', type: 'set' },
      content: [{ tag: 'sync', attrs: {}, content: [{ tag: 'collection', attrs: { name: ADDRESS_BOOK, version: String(state.version), return_snapshot: String(!state.version) } }] }]
    })
    if (!result) throw new NotAnswered('WhatsApp did not answer the address-book sync')
    const node = getBinaryNodeChildren(getBinaryNodeChild(result, 'sync'), 'collection').find(c => c.attrs.name === ADDRESS_BOOK)
    if (!node) throw new NotAnswered('the answer holds no address-book collection')
    if (node.attrs.type === 'error' || getBinaryNodeChild(node, 'error')) throw new NotAnswered('WhatsApp answered the address-book sync with an error')
    const collection = (await extractSyncdPatches(result, opts.fetchOptions ?? {}))[ADDRESS_BOOK]
    let next = state
    const mutations = new Map<string, ChatMutation>()
    try {
      if (collection.snapshot) {
        const decoded = await decodeSyncdSnapshot(ADDRESS_BOOK, collection.snapshot, appStateKey, reportedUpTo, true, opts.logger)
        next = decoded.state
        for (const [index, m] of Object.entries(decoded.mutationMap)) mutations.set(index, m)
      }
      if (collection.patches.length) {
        const decoded = await decodePatches(ADDRESS_BOOK, collection.patches, next, appStateKey, opts.fetchOptions ?? {}, reportedUpTo, opts.logger, true)
        next = decoded.state
        for (const [index, m] of Object.entries(decoded.mutationMap)) mutations.set(index, m)
      }
    } catch (err) {
      throw new DecodeFailed(`the address book did not decode: ${(err as Error).message}`, { cause: err })
    }
    if (next === state) {
      if (collection.hasMorePatches) throw new NotAnswered('WhatsApp announced more patches and sent none')
    } else {
      const current = await storedState()
      if (current && current.version > next.version && current.version !== known) {
        // Baileys stored a newer state meanwhile (and reported it): go on from there, dropping this older answer.
        state = current
        reportedUpTo = known = current.version
        continue
      }
      // Reported only where someone listens: a closed socket's events go nowhere, and while Baileys'
      // buffer is on they wait in it (and die with the socket); the state is stored right after.
      while (sock.ev.isBuffering() && opts.isOpen()) await new Promise(resolve => setTimeout(resolve, BUFFER_POLL_MS))
      if (!opts.isOpen()) throw new NotAnswered('the connection closed during the read')
      for (const m of mutations.values()) processSyncAction(m, sock.ev, me, undefined, opts.logger as never)
      reported += mutations.size
      await keys.set({ 'app-state-sync-version': { [ADDRESS_BOOK]: next } })
      state = next
      reportedUpTo = known = next.version
    }
    if (!collection.hasMorePatches) {
      opts.logger.info({ version: state.version, mutations: reported }, 'address book read from the phone')
      return reported
    }
  }
  throw new NotAnswered(`the address book did not end within ${MAX_ANSWERS} answers`)
}
