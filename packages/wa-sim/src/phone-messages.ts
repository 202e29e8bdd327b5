import { encodeWAMessage, encryptedStream, generateMessageIDV2, generateSignalPubKey, proto, type BinaryNode } from '@whiskeysockets/baileys'
import { readFile, rm } from 'node:fs/promises'
import { promisify } from 'node:util'
import { deflate } from 'node:zlib'
import { syncKeyOf, type AppState } from './app-state.ts'
import { repositoryOf } from './status-decrypt.ts'
import type { AccountState, DeviceState } from './state.ts'

const deflateAsync = promisify(deflate)

/**
 * A message from the phone (device 0) to one of its linked devices, Signal-encrypted with the
 * phone's own repository as WhatsApp's phone does (`category="peer"`, from the account's LID).
 */
export async function phoneMessageNode (account: AccountState, device: DeviceState, message: proto.IMessage): Promise<BinaryNode> {
  const repo = repositoryOf(account)
  const jid = `${account.lid}:${device.id}@lid`
  const { exists } = await repo.validateSession(jid)
  if (!exists) {
    // The device's signed pre-key from its registration; no one-time pre-key is needed.
    await repo.injectE2ESession({
      jid,
      session: {
        registrationId: device.registrationId,
        identityKey: Buffer.from(generateSignalPubKey(device.identityPub)),
        signedPreKey: { keyId: device.signedPreKey.keyId, publicKey: Buffer.from(generateSignalPubKey(device.signedPreKey.public)), signature: device.signedPreKey.signature }
      } as never
    })
  }
  const { type, ciphertext } = await repo.encryptMessage({ jid, data: encodeWAMessage(message) })
  return {
    tag: 'message',
    attrs: { from: `${account.lid}@lid`, id: generateMessageIDV2(), type: 'text', category: 'peer', t: String(Math.floor(Date.now() / 1000)) },
    content: [{ tag: 'enc', attrs: { v: '2', type }, content: ciphertext }]
  }
}

/** The phone shares its app-state sync key with a linked device. */
export function keyShareMessage (app: AppState): proto.IMessage {
  return {
    protocolMessage: {
      type: proto.Message.ProtocolMessage.Type.APP_STATE_SYNC_KEY_SHARE,
      appStateSyncKeyShare: { keys: [syncKeyOf(app)] }
    }
  }
}

/**
 * A history-sync notification carrying the push names of `people` (and their LIDs): the history
 * blob is deflated, encrypted with Baileys' own media encryption (`md-msg-hist`) and stored on
 * the media host, which serves it at the notification's `directPath`.
 */
export async function pushNamesMessage (people: AccountState[], store: (bytes: Buffer) => string): Promise<proto.IMessage> {
  const history = proto.HistorySync.encode({
    syncType: proto.HistorySync.HistorySyncType.PUSH_NAME,
    pushnames: people.map(p => ({ id: `${p.phone}@s.whatsapp.net`, pushname: p.name })),
    phoneNumberToLidMappings: people.map(p => ({ pnJid: `${p.phone}@s.whatsapp.net`, lidJid: `${p.lid}@lid` })),
    progress: 100,
    chunkOrder: 0
  }).finish()
  const enc = await encryptedStream(await deflateAsync(history), 'md-msg-hist')
  const bytes = await readFile(enc.encFilePath)
  await rm(enc.encFilePath, { force: true })
  return {
    protocolMessage: {
      type: proto.Message.ProtocolMessage.Type.HISTORY_SYNC_NOTIFICATION,
      historySyncNotification: {
        fileSha256: enc.fileSha256,
        fileLength: enc.fileLength,
        mediaKey: enc.mediaKey,
        fileEncSha256: enc.fileEncSha256,
        directPath: store(bytes),
        syncType: proto.Message.HistorySyncType.PUSH_NAME,
        chunkOrder: 0,
        progress: 100
      }
    }
  }
}

/** Tells a device that a collection changed: it fetches the new patches (`server_sync`). */
export function serverSyncNode (collection: string, version: number, id: string): BinaryNode {
  return {
    tag: 'notification',
    attrs: { from: 's.whatsapp.net', type: 'server_sync', id, t: String(Math.floor(Date.now() / 1000)) },
    content: [{ tag: 'collection', attrs: { name: collection, version: String(version) } }]
  }
}
