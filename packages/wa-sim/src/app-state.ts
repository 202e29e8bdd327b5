import { encodeSyncdPatch, encryptedStream, getBinaryNodeChild, getBinaryNodeChildren, proto, type BinaryNode } from '@whiskeysockets/baileys'
import { randomBytes } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'

/** The app-state collection that carries the address book (`contact` mutations). */
export const ADDRESS_BOOK_COLLECTION = 'critical_unblock_low'
/** Patches answered per collection and sync request; more set `has_more_patches`. */
const PATCHES_PER_RESPONSE = 500

/**
 * A phone's app state: its sync key (shared with each linked device) and the address-book
 * collection as the patches the phone wrote, patch i carrying version i + 1, plus what a snapshot
 * needs: each live index's last record and the snapshot MAC of the current version.
 */
export interface AppState {
  keyId: Buffer
  keyData: Buffer
  keyTimestamp: number
  version: number
  hash: Buffer
  indexValueMap: Record<string, { valueMac: Buffer }>
  patches: Buffer[]
  /** Index MAC (base64) → the encoded `SyncdRecord` of its last SET. */
  live?: Record<string, Buffer>
  snapshotMac?: Buffer
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
  const encode = (indexValueMap: AppState['indexValueMap']) => encodeSyncdPatch({
    type: ADDRESS_BOOK_COLLECTION,
    index: ['contact', `${phone}@s.whatsapp.net`],
    // A removal carries an empty contact: Baileys reports it as a contact without a name.
    syncAction: { timestamp: Date.now(), contactAction: contact ? { fullName: contact.fullName, firstName: contact.fullName.split(' ')[0], lidJid: contact.lidJid, saveOnPrimaryAddressbook: true } : {} },
    apiVersion: 2,
    operation
  }, keyId, { version: app.version, hash: app.hash, indexValueMap }, async id => id === keyId ? key : undefined as never)
  // The encoder copies the whole index map for each patch (quadratic for a large book) but reads
  // only this index's entry: encode against an empty map, and again with that one entry if it exists.
  let { patch, state } = await encode({})
  const indexMac = Buffer.from(patch.mutations![0]!.record!.index!.blob!).toString('base64')
  const previous = app.indexValueMap[indexMac]
  if (previous) ({ patch, state } = await encode({ [indexMac]: previous }))
  const record = patch.mutations![0]!.record!
  if (contact) {
    app.indexValueMap[indexMac] = { valueMac: Buffer.from(state.indexValueMap[indexMac]!.valueMac) }
    ;(app.live ??= {})[indexMac] = Buffer.from(proto.SyncdRecord.encode(record).finish())
  } else {
    delete app.indexValueMap[indexMac]
    delete app.live?.[indexMac]
  }
  app.version = state.version
  app.hash = Buffer.from(state.hash)
  app.snapshotMac = Buffer.from(patch.snapshotMac!)
  app.patches.push(Buffer.from(proto.SyncdPatch.encode({ ...patch, version: { version: state.version } }).finish()))
}

/**
 * Answers `<iq xmlns="w:sync:app:state"><sync><collection name version return_snapshot/>…`: for the
 * address book, a snapshot when the client asks for one (syncing from scratch: every live record
 * at the current version, its blob encrypted as `md-app-state` and stored by `store`, as WhatsApp
 * serves it from its media host), else the patches after the client's version. Every other
 * collection is empty here. `served` counts the mutations and records answered.
 */
export async function syncResponse (app: AppState | undefined, iq: BinaryNode, store: (bytes: Buffer) => string): Promise<{ node: BinaryNode, served: number }> {
  let served = 0
  const collections: BinaryNode[] = []
  for (const c of getBinaryNodeChildren(getBinaryNodeChild(iq, 'sync'), 'collection')) {
    const name = c.attrs.name ?? ''
    const from = Math.max(0, Number(c.attrs.version) || 0)
    if (name !== ADDRESS_BOOK_COLLECTION || !app || from >= app.patches.length) {
      collections.push({ tag: 'collection', attrs: { name, version: String(name === ADDRESS_BOOK_COLLECTION && app ? app.version : from) } })
      continue
    }
    if (c.attrs.return_snapshot === 'true') {
      const records = Object.values(app.live ?? {}).map(r => proto.SyncdRecord.decode(r))
      served += records.length
      collections.push({ tag: 'collection', attrs: { name, version: String(app.version) }, content: [{ tag: 'snapshot', attrs: {}, content: await snapshotBlob(app, records, store) }] })
      continue
    }
    const chunk = app.patches.slice(from, from + PATCHES_PER_RESPONSE)
    served += chunk.length
    const more = from + chunk.length < app.patches.length
    collections.push({
      tag: 'collection',
      attrs: { name, version: String(from + chunk.length), ...(more ? { has_more_patches: 'true' } : {}) },
      content: [{ tag: 'patches', attrs: {}, content: chunk.map(p => ({ tag: 'patch', attrs: {}, content: p })) }]
    })
  }
  return { node: { tag: 'sync', attrs: {}, content: collections }, served }
}

/** The snapshot as an encrypted external blob, and the reference to it that the collection carries. */
async function snapshotBlob (app: AppState, records: proto.ISyncdRecord[], store: (bytes: Buffer) => string): Promise<Buffer> {
  const snapshot = proto.SyncdSnapshot.encode({ version: { version: app.version }, records, mac: app.snapshotMac, keyId: { id: app.keyId } }).finish()
  const enc = await encryptedStream(Buffer.from(snapshot), 'md-app-state')
  const bytes = await readFile(enc.encFilePath)
  await rm(enc.encFilePath, { force: true })
  return Buffer.from(proto.ExternalBlobReference.encode({
    mediaKey: enc.mediaKey,
    directPath: store(bytes),
    handle: randomBytes(8).toString('hex'),
    fileSizeBytes: enc.fileLength,
    fileSha256: enc.fileSha256,
    fileEncSha256: enc.fileEncSha256
  }).finish())
}
