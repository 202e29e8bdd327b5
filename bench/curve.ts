// The curve25519 operations of the patched Baileys and libsignal (patches/README.md), in µs per
// call: signing (XEdDSA), verification, and an agreement with a repeated or a new private key.
// CPU only, no stack; the median of several rounds, since these machines' speed drifts.
//   pnpm --filter @wss/bench curve [-- --ops 2000 --rounds 7]
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { Curve } from '@whiskeysockets/baileys'
import { machine, options, printTable } from './src/harness.ts'

const values = options({ ops: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '7' } })
const ops = Number(values.ops)
const rounds = Number(values.rounds)

// The pure-JS curve25519 that libsignal signs with unpatched, for comparison.
const fromBaileys = createRequire(createRequire(import.meta.url).resolve('@whiskeysockets/baileys'))
const reference = createRequire(fromBaileys.resolve('libsignal/src/curve.js'))('curve25519-js') as {
  sign (secretKey: Uint8Array, message: Uint8Array): Uint8Array
}

/** µs per call: the median over the rounds (after one warm-up round); fn gets a new index every call. */
function perCall (count: number, fn: (i: number) => unknown): number {
  const results: number[] = []
  for (let r = 0; r <= rounds; r++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < count; i++) fn(r * count + i)
    if (r > 0) results.push(Number(process.hrtime.bigint() - t0) / 1000 / count)
  }
  return results.sort((a, b) => a - b)[results.length >> 1]!
}

console.log(`curve: ${ops} calls per round, ${rounds} rounds; ${machine()}`)
const identity = Curve.generateKeyPair()
const signedPreKey = Buffer.concat([Buffer.from([5]), Curve.generateKeyPair().public]) // what a signed pre-key signs
const senderKeyMessage = randomBytes(120) // a status's sender-key message body, roughly
const signature = Curve.sign(identity.private, senderKeyMessage)
// New keys for every call of every round: nothing is imported twice unless the call repeats a key.
const peers = Array.from({ length: ops * (rounds + 1) }, () => Curve.generateKeyPair())
const fresh = Array.from({ length: ops * (rounds + 1) }, () => Curve.generateKeyPair())

const us = (n: number) => `${n.toFixed(1)} µs`
printTable('curve25519 operations (µs per call, median round)', [
  ['Curve.sign, 33-byte signed pre-key', us(perCall(ops, () => Curve.sign(identity.private, signedPreKey)))],
  ['Curve.sign, 120-byte sender-key message', us(perCall(ops, () => Curve.sign(identity.private, senderKeyMessage)))],
  ['curve25519-js sign (unpatched libsignal), 120 bytes', us(perCall(Math.max(20, ops / 50), () => reference.sign(identity.private, senderKeyMessage)))],
  ['Curve.verify, 120 bytes', us(perCall(ops, () => Curve.verify(identity.public, senderKeyMessage, signature)))],
  ['Curve.sharedKey, the same private key each call', us(perCall(ops, i => Curve.sharedKey(identity.private, peers[i]!.public)))],
  ['Curve.sharedKey, a new private key each call', us(perCall(ops, i => Curve.sharedKey(fresh[i]!.private, peers[i]!.public)))]
])
