import { encodeSyncdPatch, getBinaryNodeChild, getBinaryNodeChildren, proto, type BinaryNode } from '@whiskeysockets/baileys'
import { randomBytes } from 'node:crypto'

/** The app-state collection that carries the address book (`contact` mutations). */
export const ADDRESS_BOOK_COLLECTION = 'critical_unblock_low'
/** Patches answered per collection and sync request; more set `has_more_patches`. */
const PATCHES_PER_RESPONSE = 500

/**
 * A phone's app state: its sync key (shared with each linked device) and the address-book
 * collection as the patches the phone wrote, patch i carrying version i + 1.
 */
export interface AppState {
  keyId: Buffer
  keyData: Buffer
  keyTimestamp: number
  version: number
  hash: Buffer
  indexValueMap: Record<string, { valueMac: Buffer }>
  patches: Buffer[]
}

/** A new app state with a fresh sync key and an empty collection. */
export function newAppState (): AppState {
  return { keyId: randomBytes(6), keyData: randomBytes(32), keyTimestamp: Date.now(), version: 0, hash: Buffer.alloc(128), indexValueMap: {}, patches: [] }
}

/** The key as the phone shares it (`appStateSyncKeyShare`) and as Baileys' decoder asks for it. */
export function syncKeyOf (app: AppState): proto.Message.IAppStateSyncKey {
  return {
    keyId: { keyId: app.keyId },
    keyData: { keyData: app.keyData, fingerprint: { rawId: 1, currentIndex: 0, deviceIndexes: [0] }, timestamp: app.keyTimestamp }
  }
}

/**
 * Appends one `contact` mutation (a SET with the name, or a REMOVE) as a patch. Baileys' own
 * encoder computes the value and index MACs, the LTHash, the snapshot and patch MACs.
 */
export async function appendContactPatch (app: AppState, phone: string, contact: { fullName: string, lidJid?: string } | null) {
  const keyId = app.keyId.toString('base64')
  const key = syncKeyOf(app).keyData!
  const operation = contact ? proto.SyncdMutation.SyncdOperation.SET : proto.SyncdMutation.SyncdOperation.REMOVE
  const { patch, state } = await encodeSyncdPatch({
    type: ADDRESS_BOOK_COLLECTION,
    index: ['contact', `${phone}@s.whatsapp.net`],
    // A removal carries an empty contact: Baileys reports it as a contact without a name.
    syncAction: { timestamp: Date.now(), contactAction: contact ? { fullName: contact.fullName, firstName: contact.fullName.split(' ')[0], lidJid: contact.lidJid, saveOnPrimaryAddressbook: true } : {} },
    apiVersion: 2,
    operation
  }, keyId, { version: app.version, hash: app.hash, indexValueMap: app.indexValueMap }, async id => id === keyId ? key : undefined as never)
  if (!contact) {
    // The encoder keeps a removed index in its map; a decoder drops it (the next SET must not subtract it).
    delete state.indexValueMap[Buffer.from(patch.mutations![0]!.record!.index!.blob!).toString('base64')]
  }
  app.version = state.version
  app.hash = Buffer.from(state.hash)
  app.indexValueMap = state.indexValueMap as AppState['indexValueMap']
  app.patches.push(Buffer.from(proto.SyncdPatch.encode({ ...patch, version: { version: state.version } }).finish()))
}

/**
 * Answers `<iq xmlns="w:sync:app:state"><sync><collection name version/>…`: for each collection the
 * patches after the client's version (the address book; every other collection is empty here).
 */
export function syncResponse (app: AppState | undefined, iq: BinaryNode): BinaryNode {
  const collections = getBinaryNodeChildren(getBinaryNodeChild(iq, 'sync'), 'collection').map((c): BinaryNode => {
    const name = c.attrs.name ?? ''
    const from = Math.max(0, Number(c.attrs.version) || 0)
    if (name !== ADDRESS_BOOK_COLLECTION || !app || from >= app.patches.length) {
      return { tag: 'collection', attrs: { name, version: String(name === ADDRESS_BOOK_COLLECTION && app ? app.version : from) } }
    }
    const chunk = app.patches.slice(from, from + PATCHES_PER_RESPONSE)
    const more = from + chunk.length < app.patches.length
    return {
      tag: 'collection',
      attrs: { name, version: String(from + chunk.length), ...(more ? { has_more_patches: 'true' } : {}) },
      content: [{ tag: 'patches', attrs: {}, content: chunk.map(p => ({ tag: 'patch', attrs: {}, content: p })) }]
    }
  })
  return { tag: 'sync', attrs: {}, content: collections }
}
