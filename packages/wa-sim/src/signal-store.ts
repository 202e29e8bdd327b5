import { DEFAULT_CONNECTION_CONFIG, type SignalDataTypeMap, type SignalKeyStoreWithTransaction } from '@whiskeysockets/baileys'
import type { KeyPair, SignedPreKey } from './keys.ts'

type Store = Record<string, Record<string, unknown>>

/** An in-memory Signal key store of a simulated phone, serializable with the simulator state. */
export function memoryKeyStore (data: Store): SignalKeyStoreWithTransaction {
  return {
    async get (type, ids) {
      const bucket = data[type] ?? {}
      const out: Record<string, unknown> = {}
      for (const id of ids) if (bucket[id] !== undefined) out[id] = bucket[id]
      return out as { [id: string]: SignalDataTypeMap[typeof type] }
    },
    async set (update) {
      for (const type of Object.keys(update)) {
        const bucket = (data[type] ??= {})
        const values = (update as Record<string, Record<string, unknown>>)[type]!
        for (const [id, value] of Object.entries(values)) {
          if (value === null || value === undefined) delete bucket[id]
          else bucket[id] = value
        }
      }
    },
    async clear () { for (const k of Object.keys(data)) delete data[k] },
    isInTransaction: () => false,
    transaction: async (work) => work()
  }
}

const silentLogger = {
  level: 'silent',
  child () { return silentLogger },
  trace () {}, debug () {}, info () {}, warn () {}, error () {}
}

export interface PhoneIdentity {
  identity: KeyPair
  signedPreKey: SignedPreKey
  registrationId: number
}

/** Baileys' own Signal repository over a simulated phone's keys: the phone decrypts exactly as a real client would. */
export function phoneSignalRepository (phone: PhoneIdentity, keys: Store) {
  const creds = {
    signedIdentityKey: phone.identity,
    signedPreKey: phone.signedPreKey,
    registrationId: phone.registrationId
  }
  // makeLibSignalRepository is reachable through the default config without a deep import.
  return DEFAULT_CONNECTION_CONFIG.makeSignalRepository(
    { creds: creds as never, keys: memoryKeyStore(keys) },
    silentLogger as never
  )
}
