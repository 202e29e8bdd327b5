import { getMediaKeys, jidDecode, proto, unpadRandomMax16 } from '@whiskeysockets/baileys'
import { createDecipheriv, createHash } from 'node:crypto'
import { setImmediate as yieldToIo } from 'node:timers/promises'
import { phoneSignalRepository } from './signal-store.ts'
import type { AccountState, MediaInfo, RecipientResult, StatusRecord } from './state.ts'
import type { Simulator } from './simulator.ts'

type Repository = ReturnType<typeof phoneSignalRepository>
const repositories = new WeakMap<AccountState, Repository>()

/** One Signal repository per simulated phone, reused across messages (statuses in, protocol messages out). */
export function repositoryOf (account: AccountState): Repository {
  let repo = repositories.get(account)
  if (!repo) {
    repo = phoneSignalRepository(account, account.keys)
    repositories.set(account, repo)
  }
  return repo
}

export interface StatusMessageInput {
  sim: Simulator
  sender: AccountState
  senderDevice: number
  messageId: string
  participants: Array<{ jid: string, type: string, ciphertext: Buffer }>
  skmsg?: Buffer
  isEdit?: string
}

const YIELD_EVERY_MS = 10
const URL_ONLY = /^https?:\/\/\S+$/i

/**
 * Returns the work that decrypts a status as each recipient phone would (pkmsg/msg carrying the
 * sender key, then the skmsg), downloads its media from the media host, and records the result.
 */
export function decryptStatusForRecipients (input: StatusMessageInput): () => Promise<void> {
  return async () => {
    const { sim, sender, senderDevice, messageId, participants, skmsg } = input
    // The sender encrypts the group part as its LID device (addressing mode "lid").
    const authorJid = `${sender.lid}:${senderDevice}@lid`
    const recipients: RecipientResult[] = []
    let message: proto.IMessage | undefined
    let firstBytes: Buffer | undefined
    let inconsistent = false
    let slice = performance.now()
    for (const p of participants) {
      // Phones decrypt in memory (microtasks only): yield to I/O every few ms, or a large audience would
      // hold the event loop for minutes and the simulator would stop answering its clients.
      if (performance.now() - slice > YIELD_EVERY_MS) {
        await yieldToIo()
        slice = performance.now()
      }
      const decoded = jidDecode(p.jid)
      if (!decoded || (decoded.device ?? 0) !== 0) continue // linked devices are real clients, not simulated phones
      const account = decoded.server === 'lid'
        ? sim.accountByLid(decoded.user)
        : sim.state.accounts[decoded.user]
      if (!account || account === sender) {
        if (account === sender) recipients.push({ phone: sender.phone, jid: p.jid, decrypted: true })
        else recipients.push({ phone: decoded.user, jid: p.jid, decrypted: false, error: 'not a WhatsApp account' })
        continue
      }
      try {
        const repo = repositoryOf(account)
        const pairwise = await repo.decryptMessage({ jid: authorJid, type: p.type as 'pkmsg' | 'msg', ciphertext: p.ciphertext })
        const carrier = proto.Message.decode(unpadRandomMax16(pairwise))
        const skdm = carrier.senderKeyDistributionMessage
        if (skdm) await repo.processSenderKeyDistributionMessage({ item: skdm, authorJid })
        if (!skmsg) throw new Error('no skmsg')
        const bytes = Buffer.from(unpadRandomMax16(await repo.decryptGroupMessage({ group: 'status@broadcast', authorJid, msg: skmsg })))
        if (!firstBytes) {
          firstBytes = bytes
          message = proto.Message.decode(bytes)
        } else if (!firstBytes.equals(bytes)) inconsistent = true
        recipients.push({ phone: account.phone, jid: p.jid, decrypted: true })
      } catch (err) {
        recipients.push({ phone: account.phone, jid: p.jid, decrypted: false, error: (err as Error).message })
      }
    }
    const revoke = message?.protocolMessage
    if (revoke && revoke.type === proto.Message.ProtocolMessage.Type.REVOKE && revoke.key?.id) {
      sim.recordRevoke(sender.phone, revoke.key.id, recipients.filter(r => r.decrypted).map(r => r.phone))
      return
    }
    const record: StatusRecord = {
      id: messageId,
      sender: sender.phone,
      senderDevice,
      receivedAt: Date.now(),
      type: 'other',
      audience: participants.map(p => p.jid),
      recipients,
      ack: {},
      ...(inconsistent ? { inconsistent } : {})
    }
    if (message) {
      record.message = proto.Message.toObject(proto.Message.fromObject(message), { bytes: String, longs: Number })
      await describe(record, message, sim)
    } else {
      record.error = 'no recipient could decrypt the status'
    }
    sim.recordStatus(record)
  }
}

function argbToHex (argb: number) {
  return '#' + (argb >>> 0).toString(16).padStart(8, '0').slice(2)
}

async function describe (record: StatusRecord, message: proto.IMessage, sim: Simulator) {
  const ext = message.extendedTextMessage
  if (message.conversation) {
    record.type = 'text'
    record.text = message.conversation
  } else if (ext) {
    const text = ext.text ?? ''
    record.text = text
    record.type = ext.matchedText || URL_ONLY.test(text.trim()) ? 'url' : 'text'
    if (record.type === 'url') record.url = ext.matchedText ?? text.trim()
    if (ext.backgroundArgb != null) record.backgroundColor = argbToHex(Number(ext.backgroundArgb))
    if (ext.font != null) record.font = Number(ext.font)
  } else if (message.imageMessage || message.videoMessage || message.audioMessage) {
    const media = (message.imageMessage ?? message.videoMessage ?? message.audioMessage)!
    record.type = message.imageMessage ? 'image' : message.videoMessage ? 'video' : 'audio'
    if ('caption' in media && media.caption) record.caption = media.caption
    try {
      record.media = await download(media, record.type as MediaType, sim)
    } catch (err) {
      record.error = `media download failed: ${(err as Error).message}`
    }
  }
}

type MediaType = 'image' | 'video' | 'audio'

async function download (media: proto.Message.IImageMessage | proto.Message.IVideoMessage | proto.Message.IAudioMessage, type: MediaType, sim: Simulator): Promise<MediaInfo> {
  if (!media.mediaKey || !media.url) throw new Error('no media key or url')
  const encrypted = await sim.fetchMedia(media.url)
  const { cipherKey, iv } = await getMediaKeys(media.mediaKey, type)
  // Layout: AES-256-CBC ciphertext, then a 10-byte MAC.
  const decipher = createDecipheriv('aes-256-cbc', cipherKey, iv)
  const plain = Buffer.concat([decipher.update(encrypted.subarray(0, encrypted.length - 10)), decipher.final()])
  const sha256 = createHash('sha256').update(plain).digest()
  if (media.fileSha256 && !Buffer.from(media.fileSha256).equals(sha256)) throw new Error('sha256 mismatch')
  const info: MediaInfo = { mimetype: media.mimetype ?? undefined, size: plain.length, sha256: sha256.toString('hex'), url: media.url }
  if (media.fileLength != null) info.fileLength = Number(media.fileLength)
  if ('width' in media && media.width) info.width = media.width
  if ('height' in media && media.height) info.height = media.height
  if ('seconds' in media && media.seconds) info.seconds = media.seconds
  if ('ptt' in media && media.ptt != null) info.ptt = media.ptt
  if ('waveform' in media && media.waveform) info.waveform = [...media.waveform]
  return info
}
