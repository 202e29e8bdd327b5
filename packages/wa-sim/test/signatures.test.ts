// The signatures of the patched Baileys and libsignal (see ARCHITECTURE.md, "Patched dependencies"):
// Curve.sign gives the bytes the reference implementation (curve25519-js) gives, status messages
// carry a sender-key signature that recipients verify natively, and a forged one is refused; key
// pairs are the reference's and their generation never hangs.
import t from 'tap'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Curve } from '@whiskeysockets/baileys'
import { newAccount } from '../src/state.ts'
import { phoneSignalRepository } from '../src/signal-store.ts'

const group = 'status@broadcast'

// The reference: the pure-JS curve25519-js that libsignal used before the patch.
const fromLibsignal = createRequire(createRequire(fileURLToPath(import.meta.resolve('@whiskeysockets/baileys'))).resolve('libsignal/src/curve.js'))
const reference = fromLibsignal('curve25519-js') as {
  sign (secretKey: Uint8Array, message: Uint8Array): Uint8Array
  verify (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
  generateKeyPair (seed: Uint8Array): { private: Uint8Array, public: Uint8Array }
}

function sender () {
  const account = newAccount('15557770000', 'Sender')
  return { account, repo: phoneSignalRepository(account, account.keys), jid: `${account.lid}:0@lid` }
}

async function recipientWithKey (from: ReturnType<typeof sender>) {
  const account = newAccount('15557770001', 'Recipient')
  const repo = phoneSignalRepository(account, account.keys)
  const first = await from.repo.encryptGroupMessage({ group, meId: from.jid, data: Buffer.from('first') })
  await repo.processSenderKeyDistributionMessage({ item: { groupId: group, axolotlSenderKeyDistributionMessage: first.senderKeyDistributionMessage }, authorJid: from.jid })
  t.equal(Buffer.from(await repo.decryptGroupMessage({ group, authorJid: from.jid, msg: first.ciphertext })).toString(), 'first')
  return repo
}

t.test('a sender-key message decrypts with its signature and is refused with a forged one', async t => {
  const from = sender()
  const repo = await recipientWithKey(from)

  const good = await from.repo.encryptGroupMessage({ group, meId: from.jid, data: Buffer.from('second') })
  const forged = Buffer.from(good.ciphertext)
  forged[forged.length - 10] ^= 0x01 // inside the 64-byte signature
  await t.rejects(repo.decryptGroupMessage({ group, authorJid: from.jid, msg: forged }), /Invalid signature/)

  const body = Buffer.from(good.ciphertext)
  body[body.length - 70] ^= 0x01 // inside the signed body
  await t.rejects(repo.decryptGroupMessage({ group, authorJid: from.jid, msg: body }), /Invalid signature/)

  t.equal(Buffer.from(await repo.decryptGroupMessage({ group, authorJid: from.jid, msg: good.ciphertext })).toString(), 'second',
    'the genuine message still decrypts after the forgeries')
})

t.test('Curve.verify accepts a signature only for its key and message', async t => {
  const key = Curve.generateKeyPair()
  const other = Curve.generateKeyPair()
  const message = Buffer.from('signed prekey bytes')
  const signature = Curve.sign(key.private, message)
  t.ok(Curve.verify(key.public, message, signature), 'own key, own message')
  t.notOk(Curve.verify(other.public, message, signature), 'another key')
  t.notOk(Curve.verify(key.public, Buffer.from('other bytes'), signature), 'another message')
  t.notOk(Curve.verify(key.public, message, Buffer.alloc(64)), 'zero signature')
  t.notOk(Curve.verify(key.public, message, signature.subarray(0, 63)), 'short signature')
})

t.test('Curve.sign gives the reference signature bytes, which both implementations verify', async t => {
  let same = 0
  let verified = 0
  const cases = 60
  for (let i = 0; i < cases; i++) {
    const pair = i % 2 ? Curve.generateKeyPair() : (() => { const k = reference.generateKeyPair(randomBytes(32)); return { private: Buffer.from(k.private), public: Buffer.from(k.public) } })()
    const message = randomBytes(i % 3 === 0 ? 33 : 1 + i * 7)
    const ours = Curve.sign(pair.private, message)
    if (Buffer.from(ours).equals(Buffer.from(reference.sign(pair.private, message)))) same++
    if (Curve.verify(pair.public, message, ours) && reference.verify(pair.public, message, ours)) verified++
  }
  t.equal(same, cases, 'byte for byte the reference signature')
  t.equal(verified, cases, 'valid for the native and the reference verification')
  const pair = Curve.generateKeyPair()
  const message = randomBytes(40)
  const signature = Buffer.from(Curve.sign(pair.private, message))
  for (const bit of [0, 100, 255, 256, 400, 511]) {
    const forged = Buffer.from(signature)
    forged[bit >> 3]! ^= 1 << (bit & 7)
    t.notOk(Curve.verify(pair.public, message, forged), `a flipped bit ${bit} is refused`)
  }
})

t.test('Curve.generateKeyPair gives a clamped private key and the public key the reference derives from it', async t => {
  let same = 0
  let clamped = 0
  const cases = 200
  for (let i = 0; i < cases; i++) {
    const pair = Curve.generateKeyPair()
    const priv = Buffer.from(pair.private)
    if ((priv[0]! & 7) === 0 && (priv[31]! & 0xc0) === 0x40) clamped++
    if (Buffer.from(reference.generateKeyPair(priv).public).equals(Buffer.from(pair.public))) same++
  }
  t.equal(clamped, cases, 'clamped as curve25519 private keys are')
  t.equal(same, cases, 'the reference public key')
})

// Linking generates ~800 pre-keys per session. The first patch exported keys made by
// generateKeyPairSync, which deadlocks Node 20 once in a few thousand keys (ARCHITECTURE.md,
// "Patched dependencies"): a process generating 100,000 keys must finish.
t.test('100,000 key pairs in a row complete (no deadlock in key generation)', async t => {
  const curvePath = createRequire(fileURLToPath(import.meta.resolve('@whiskeysockets/baileys'))).resolve('libsignal/src/curve.js')
  const script = `
    const curve = require(${JSON.stringify(curvePath)})
    const seen = new Set()
    for (let i = 0; i < 100000; i++) seen.add(curve.generateKeyPair().pubKey.toString('base64'))
    console.log(seen.size)`
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { timeout: 60_000, killSignal: 'SIGKILL', env: { PATH: process.env.PATH } }, (err, stdout) => err ? reject(err) : resolve(stdout))
  }).catch((err: NodeJS.ErrnoException & { killed?: boolean }) => t.fail(err.killed ? 'key generation hung (killed after 60 s)' : err.message))
  t.equal(String(out).trim(), '100000', 'every key pair generated, all distinct')
})
