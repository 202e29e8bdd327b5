import { BufferJSON } from '@whiskeysockets/baileys'
import { randomInt } from 'node:crypto'
import type { AppState } from './app-state.ts'
import { newKeyPair, newRegistrationId, newSignedPreKey, type KeyPair, type SignedPreKey } from './keys.ts'

/** A companion device linked to an account (what a Baileys client becomes once linked). */
export interface DeviceState {
  id: number
  /** The client's noise static public key: it identifies the device when it logs in again. */
  noisePub: Buffer
  identityPub: Buffer
  registrationId: number
  signedPreKey: { keyId: number, public: Buffer, signature: Buffer }
  /** One-time pre-keys the device uploaded, handed out to senders one by one. */
  preKeys: Record<string, Buffer>
  keyIndex: number
  platform: string
  linkedAt: number
  /** When the phone sent this device its app-state key and its contacts' push names (once). */
  contactsSentAt?: number
}

/** A simulated WhatsApp account: the phone (device 0) and its linked devices. */
export interface AccountState {
  phone: string
  lid: string
  name: string
  identity: KeyPair
  signedPreKey: SignedPreKey
  registrationId: number
  nextPreKeyId: number
  /** The phone's Signal store (sessions, sender keys, one-time pre-keys it gave out). */
  keys: Record<string, Record<string, unknown>>
  /** Mutual contacts: who may see whose statuses, and whose push names a new device receives. */
  contacts: string[]
  /** The phone's address book: number → the name saved on the phone (app-state collection `critical_unblock_low`). */
  addressBook?: Record<string, string>
  /** The phone's app-state sync key and address-book patches. */
  appState?: AppState
  devices: Record<string, DeviceState>
  nextDeviceId: number
  nextKeyIndex: number
}

export interface MediaInfo {
  mimetype?: string
  size: number
  sha256: string
  fileLength?: number
  width?: number
  height?: number
  seconds?: number
  /** Audio: sent as a voice note (push-to-talk). */
  ptt?: boolean
  /** Audio: the waveform the message carries (values 0–100). */
  waveform?: number[]
  url?: string
}

/** What one recipient's phone got when it decrypted a status. */
export interface RecipientResult {
  phone: string
  jid: string
  decrypted: boolean
  error?: string
}

/** A status as the simulator saw it: sent by a linked device, decrypted by each recipient phone. */
export interface StatusRecord {
  id: string
  sender: string
  senderDevice: number
  receivedAt: number
  /** text | image | video | audio | url | other */
  type: string
  text?: string
  caption?: string
  url?: string
  backgroundColor?: string
  font?: number
  media?: MediaInfo
  /** The jids the message was addressed to (participants). */
  audience: string[]
  recipients: RecipientResult[]
  ack: { error?: string }
  revokedAt?: number
  /** Stanzas that carried the revoke, and the phones that decrypted it. */
  revokeStanzas?: number
  revokedFor?: string[]
  /** Stanzas that carried this status (more than one for a large audience sent in chunks, or for a status posted twice). */
  stanzas?: number
  /** Set when a recipient's decrypted bytes differed from another's. */
  inconsistent?: boolean
  /** Acks the sender's devices returned for the read/played receipts of this status. */
  receiptAcks?: number
  /** The decoded message of the first successful decryption, as JSON. */
  message?: unknown
  error?: string
}

/** The whole persistent state of the simulator. */
export interface SimState {
  version: 1
  root: KeyPair
  intermediate: KeyPair
  serverStatic: KeyPair
  accounts: Record<string, AccountState>
  statuses: StatusRecord[]
  /** The media host's certificate, kept so WA_MEDIA_CA stays valid across restarts. */
  mediaCert?: { cert: string, key: string }
}

/** Creates an empty state with fresh server keys. */
export function newState (): SimState {
  return {
    version: 1,
    root: newKeyPair(),
    intermediate: newKeyPair(),
    serverStatic: newKeyPair(),
    accounts: {},
    statuses: []
  }
}

/** Creates a new account for a phone number (digits only). */
export function newAccount (phone: string, name: string, lid?: string): AccountState {
  const identity = newKeyPair()
  return {
    phone,
    lid: lid ?? String(randomInt(10 ** 13, 10 ** 14 - 1)) + String(randomInt(10, 99)),
    name,
    identity,
    signedPreKey: newSignedPreKey(identity, 1),
    registrationId: newRegistrationId(),
    nextPreKeyId: 1,
    keys: {},
    contacts: [],
    devices: {},
    nextDeviceId: 1,
    nextKeyIndex: 1
  }
}

/** Serializes the state (Buffers included) to JSON text. */
export function serializeState (state: SimState): string {
  return JSON.stringify(state, BufferJSON.replacer)
}

/** Parses state JSON written by serializeState. */
export function parseState (text: string): SimState {
  const state = JSON.parse(text, BufferJSON.reviver) as SimState
  if (state.version !== 1) throw new Error(`unsupported simulator state version ${String(state.version)}`)
  return state
}
