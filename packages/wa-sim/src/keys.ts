import { Curve, signedKeyPair } from '@whiskeysockets/baileys'
import { randomInt } from 'node:crypto'

/** A Curve25519 key pair as Baileys represents it (32-byte public key, no type prefix). */
export interface KeyPair { public: Buffer, private: Buffer }

export interface SignedPreKey { keyId: number, keyPair: KeyPair, signature: Buffer }

/** Generates a key pair. */
export const newKeyPair = (): KeyPair => Curve.generateKeyPair() as KeyPair

/** Generates a signed pre-key for an identity. */
export const newSignedPreKey = (identity: KeyPair, keyId: number): SignedPreKey =>
  signedKeyPair(identity, keyId) as SignedPreKey

/** A random 14-bit Signal registration id. */
export const newRegistrationId = () => randomInt(1, 16380)

/** Random bytes as base64. */
