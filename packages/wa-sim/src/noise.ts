import { Curve, aesDecryptGCM, aesEncryptGCM, hkdf, sha256, NOISE_MODE, NOISE_WA_HEADER, proto } from '@whiskeysockets/baileys'
import { newKeyPair, type KeyPair } from './keys.ts'

/** The certificate chain the server presents, signed by the simulator's own root. */
export interface CertChainKeys {
  root: KeyPair
  intermediate: KeyPair
}

/** Builds the serialized CertChain for a server static key, as WhatsApp's edge servers present it. */
export function buildCertChain (keys: CertChainKeys, serverStaticPub: Uint8Array): Uint8Array {
  const nowSec = Math.floor(Date.now() / 1000)
  const intermediateDetails = proto.CertChain.NoiseCertificate.Details.encode({
    serial: 1,
    issuerSerial: 0,
    key: keys.intermediate.public,
    notBefore: nowSec - 3600,
    notAfter: nowSec + 10 * 365 * 86400
  }).finish()
  const leafDetails = proto.CertChain.NoiseCertificate.Details.encode({
    serial: 2,
    issuerSerial: 1,
    key: serverStaticPub,
    notBefore: nowSec - 3600,
    notAfter: nowSec + 10 * 365 * 86400
  }).finish()
  return proto.CertChain.encode({
    intermediate: { details: intermediateDetails, signature: Curve.sign(keys.root.private, intermediateDetails) },
    leaf: { details: leafDetails, signature: Curve.sign(keys.intermediate.private, leafDetails) }
  }).finish()
}

const ivFor = (counter: number) => {
  const iv = Buffer.alloc(12)
  iv.writeUInt32BE(counter, 8)
  return iv
}

/**
 * The responder side of Noise_XX_25519_AESGCM_SHA256 as WhatsApp speaks it.
 * Mirrors Baileys' initiator (lib/Utils/noise-handler.js) step for step.
 */
export class NoiseResponder {
  private hash: Buffer
  private salt: Buffer
  private key: Buffer
  private counter = 0
  private readonly ephemeral: KeyPair
  private transport?: { enc: Buffer, dec: Buffer, readCounter: number, writeCounter: number }
  /** The client's static (noise) public key, known after the handshake. */
  clientStatic?: Buffer

  constructor (private readonly serverStatic: KeyPair, private readonly certChain: (serverPub: Uint8Array) => Uint8Array) {
    const data = Buffer.from(NOISE_MODE)
    this.hash = data.byteLength === 32 ? data : sha256(data)
    this.salt = this.hash
    this.key = this.hash
    this.ephemeral = newKeyPair()
    this.authenticate(NOISE_WA_HEADER)
  }

  get isTransport () { return !!this.transport }

  private authenticate (data: Uint8Array) {
    if (!this.transport) this.hash = sha256(Buffer.concat([this.hash, data]))
  }

  private mixIntoKey (data: Uint8Array) {
    const out = Buffer.from(hkdf(Buffer.from(data), 64, { salt: this.salt, info: '' }))
    this.salt = out.subarray(0, 32)
    this.key = out.subarray(32)
    this.counter = 0
  }

  private encryptHs (plaintext: Uint8Array) {
    const result = aesEncryptGCM(plaintext, this.key, ivFor(this.counter++), this.hash)
    this.authenticate(result)
    return result
  }

  private decryptHs (ciphertext: Uint8Array) {
    const result = aesDecryptGCM(ciphertext, this.key, ivFor(this.counter++), this.hash)
    this.authenticate(ciphertext)
    return result
  }

  /** Handles ClientHello and returns the ServerHello frame payload. */
  serverHello (clientHello: Uint8Array): Uint8Array {
    const hello = proto.HandshakeMessage.decode(clientHello)
    const clientEphemeral = hello.clientHello?.ephemeral
    if (!clientEphemeral) throw new Error('missing client ephemeral')
    this.authenticate(clientEphemeral)
    this.authenticate(this.ephemeral.public)
    this.mixIntoKey(Curve.sharedKey(this.ephemeral.private, clientEphemeral))
    const staticEnc = this.encryptHs(this.serverStatic.public)
    this.mixIntoKey(Curve.sharedKey(this.serverStatic.private, clientEphemeral))
    const payloadEnc = this.encryptHs(this.certChain(this.serverStatic.public))
    return proto.HandshakeMessage.encode({
      serverHello: { ephemeral: this.ephemeral.public, static: staticEnc, payload: payloadEnc }
    }).finish()
  }

  /** Handles ClientFinish; returns the decrypted ClientPayload and switches to transport keys. */
  clientFinish (frame: Uint8Array): proto.ClientPayload {
    const finish = proto.HandshakeMessage.decode(frame).clientFinish
    if (!finish?.static || !finish.payload) throw new Error('missing client finish')
    const clientStatic = this.decryptHs(finish.static)
    this.clientStatic = Buffer.from(clientStatic)
    this.mixIntoKey(Curve.sharedKey(this.ephemeral.private, clientStatic))
    const payload = this.decryptHs(finish.payload)
    const out = Buffer.from(hkdf(Buffer.alloc(0), 64, { salt: this.salt, info: '' }))
    // The initiator encrypts with the first half; so the responder decrypts with it.
    this.transport = { dec: out.subarray(0, 32), enc: out.subarray(32), readCounter: 0, writeCounter: 0 }
    return proto.ClientPayload.decode(payload)
  }

  encrypt (plaintext: Uint8Array): Buffer {
    const t = this.transport!
    return aesEncryptGCM(plaintext, t.enc, ivFor(t.writeCounter++), Buffer.alloc(0))
  }

  decrypt (ciphertext: Uint8Array): Buffer {
    const t = this.transport!
    return aesDecryptGCM(ciphertext, t.dec, ivFor(t.readCounter++), Buffer.alloc(0))
  }
}

/** Splits a byte stream into WhatsApp frames (3-byte big-endian length prefix). */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0)
  private introSeen = false

  push (chunk: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk
    if (!this.introSeen) {
      // Optional routing header: 'ED' 0 1 len(3) routingInfo, then 'WA' 6 DICT
      if (this.buf.length >= 2 && this.buf[0] === 0x45 && this.buf[1] === 0x44) {
        if (this.buf.length < 7) return []
        const len = (this.buf[4]! << 16) | this.buf.readUInt16BE(5)
        if (this.buf.length < 7 + len + 4) return []
        this.buf = this.buf.subarray(7 + len)
      }
      if (this.buf.length < 4) return []
      if (this.buf[0] !== 0x57 || this.buf[1] !== 0x41) throw new Error('bad intro header')
      this.buf = this.buf.subarray(4)
      this.introSeen = true
    }
    const frames: Buffer[] = []
    while (this.buf.length >= 3) {
      const size = (this.buf[0]! << 16) | (this.buf[1]! << 8) | this.buf[2]!
      if (this.buf.length < size + 3) break
      frames.push(this.buf.subarray(3, size + 3))
      this.buf = this.buf.subarray(size + 3)
    }
    return frames
  }
}

/** Prefixes a frame with its 3-byte length. */
export function encodeFrame (data: Uint8Array): Buffer<ArrayBufferLike> {
  const out = Buffer.allocUnsafe(data.byteLength + 3)
  out[0] = (data.byteLength >>> 16) & 0xff
  out[1] = (data.byteLength >>> 8) & 0xff
  out[2] = data.byteLength & 0xff
  out.set(data, 3)
  return out
}
