// The signatures of the patched Baileys and libsignal (patches/README.md): Curve.sign is Signal's
// XEdDSA as libsignal computes it (known answers from the pure-JS curve25519-js reference, with the
// nonce randomness fixed), randomized, and verified natively; bad and malleated signatures are
// refused; status messages carry a sender-key signature that recipients verify; X25519 agreements
// give RFC 7748's answers; key pairs are the reference's and their generation never hangs.
import t from 'tap'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Curve } from '@whiskeysockets/baileys'
import { newAccount } from '../src/state.ts'
import { phoneSignalRepository } from '../src/signal-store.ts'

const group = 'status@broadcast'

// The reference: the pure-JS curve25519-js that libsignal signs and verifies with unpatched.
const fromLibsignal = createRequire(createRequire(fileURLToPath(import.meta.resolve('@whiskeysockets/baileys'))).resolve('libsignal/src/curve.js'))
const reference = fromLibsignal('curve25519-js') as {
  sign (secretKey: Uint8Array, message: Uint8Array, random?: Uint8Array): Uint8Array
  verify (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
  generateKeyPair (seed: Uint8Array): { private: Uint8Array, public: Uint8Array }
}

const hex = (s: string) => Buffer.from(s, 'hex')

// Known answers: curve25519-js' sign(priv, msg, z) (Signal's XEdDSA with the 64-byte nonce
// randomness z) and generateKeyPair(priv).public on fixed inputs, computed once and kept here.
// The first has the Edwards sign bit set (top bit of the signature's last byte), the others not;
// the first private key is not clamped (signing clamps it); the last message is empty.
const vectors = [{
  priv: hex('0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20'),
  pub: hex('07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c'),
  msg: hex('05404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f'),
  z: hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f'),
  sig: hex('49769749986635f352dc952bc9a0327408597b64e51795c2505f2eea3c663de08ffd528d7410706572483eefdd7b920d0abe561c00d50db931838204f28c888c')
}, {
  priv: hex('e129c6ece34187d5dcb0eadae20e43470af368f235be25ae0df66e462c5aacb3'),
  pub: hex('2c74968364be0bae0148e028236048cb875a7e1ce98aa5f6dbc4beb379e75d4a'),
  msg: hex('e17497c2b76c6e487a1b8fc74f55000c6cfebdd4e584655ecb386d0911592446f386b32d0b7d54f166c19d051992c41290760065ede2a3f702a3de5f8bfe0bd8cae38a6b0d0604192cd9f78b7fac2f04cd6a381afe280cc4864a580233b84fbed36242f649b9224ca0a2369c7b05d4b7f8c58703ad0de31e'),
  z: hex('0b60f4b23a499485e754f57969867882f084d4d4be0996601525f145cbdc34a15890d96ab7f10e5d18f956f39096ee8e8bd741d5e95a9f17b740be4ea7ef33ce'),
  sig: hex('5e7c1f0ebd682bdc63fb30c79d0bf9dd069f556292eb9a15e3821c3a7b1f6d91f5022c2eef9e2211596c1b7eda805c38cb74588aa62f800d012c8a9530676c00')
}, {
  priv: hex('88a72ee8a39cce0bf32e40cd283d0180c2933570c65c279eb2f7df5410f0ee2a'),
  pub: hex('d0634c431ce5a25e62449d48ca4b445bdff0ce7162218f28454e0ed50f8a670e'),
  msg: Buffer.alloc(0),
  z: Buffer.alloc(64, 0xff),
  sig: hex('00630d6cedd8db8f7b2c3cffb00f23b34958f6930f3f2354932281447dfaf8807b44ae97e5f9338215d163c1816fc07e0488c721a34d11cb0c145c98f1916b09')
}]

/**
 * Runs `work` with the Web Crypto random source answering from `bytes`: whatsapp-rust-bridge (which
 * Curve.sign calls) draws each signature's 64-byte nonce randomness there. Returns the result and
 * how many bytes were drawn.
 */
async function withRandomness<T> (bytes: Uint8Array, work: () => T | Promise<T>): Promise<{ result: T, drawn: number }> {
  const webCrypto = globalThis.crypto as { getRandomValues: <A extends ArrayBufferView>(array: A) => A }
  let drawn = 0
  webCrypto.getRandomValues = <A extends ArrayBufferView>(array: A): A => {
    const view = new Uint8Array(array.buffer, array.byteOffset, array.byteLength)
    view.set(bytes.subarray(drawn, drawn + view.length))
    drawn += view.length
    return array
  }
  try {
    return { result: await work(), drawn }
  } finally {
    delete (webCrypto as { getRandomValues?: unknown }).getRandomValues // the prototype's again
  }
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

t.test('statuses in a row each decrypt, and the sender key record does not grow with them', async t => {
  const from = sender()
  const repo = await recipientWithKey(from)
  const recordBytes = () => Object.values(from.account.keys['sender-key']!).reduce((n: number, v) => n + String(v).length, 0)
  const before = recordBytes()
  let decrypted = 0
  for (let i = 0; i < 20; i++) {
    const message = await from.repo.encryptGroupMessage({ group, meId: from.jid, data: Buffer.from(`status ${i}`) })
    if (Buffer.from(await repo.decryptGroupMessage({ group, authorJid: from.jid, msg: message.ciphertext })).toString() === `status ${i}`) decrypted++
  }
  t.equal(decrypted, 20, 'each decrypts in turn')
  // Unpatched, each message skipped one chain key and the sender kept it (~100 bytes each, up to 2,000).
  t.ok(recordBytes() <= before + 20, `the sender's record: ${before} bytes before, ${recordBytes()} after 20 messages`)
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

t.test('Curve.sign gives the known answers for fixed nonce randomness, and they verify', async t => {
  for (const [i, v] of vectors.entries()) {
    t.same(Buffer.from(reference.generateKeyPair(v.priv).public), v.pub, `vector ${i}: the reference derives its public key`)
    t.same(Buffer.from(reference.sign(v.priv, v.msg, v.z)), v.sig, `vector ${i}: the reference signs it so`)
    const { result, drawn } = await withRandomness(v.z, () => Curve.sign(v.priv, v.msg))
    t.equal(drawn, 64, `vector ${i}: one 64-byte nonce drawn`)
    t.same(result, v.sig, `vector ${i}: Curve.sign gives the reference signature`)
    t.ok(Curve.verify(v.pub, v.msg, v.sig), `vector ${i}: Curve.verify accepts it`)
    t.ok(Curve.verify(Buffer.concat([Buffer.from([5]), v.pub]), v.msg, v.sig), `vector ${i}: also with the key's type prefix`)
  }
})

t.test('Curve.sign is randomized, and both implementations verify what it signs', async t => {
  let verified = 0
  let distinct = 0
  const cases = 20
  for (let i = 0; i < cases; i++) {
    const pair = i % 2 ? Curve.generateKeyPair() : (() => { const k = reference.generateKeyPair(randomBytes(32)); return { private: Buffer.from(k.private), public: Buffer.from(k.public) } })()
    const message = randomBytes(i % 3 === 0 ? 33 : 1 + i * 7)
    const [one, two] = [Curve.sign(pair.private, message), Curve.sign(pair.private, message)]
    if (!Buffer.from(one).equals(Buffer.from(two))) distinct++
    if ([one, two].every(sig => Curve.verify(pair.public, message, sig) && reference.verify(pair.public, message, sig))) verified++
  }
  t.equal(distinct, cases, 'two signatures of one message differ (a fresh nonce each)')
  t.equal(verified, cases, 'valid for the native and the reference verification')
  t.throws(() => Curve.sign(Buffer.alloc(31, 1), Buffer.from('x')), 'a 31-byte private key is refused')
})

t.test('Curve.verify refuses bad and malleated input without throwing', async t => {
  const v = vectors[1]!
  const v0 = vectors[0]!
  const refused = (what: string, pub: Uint8Array, msg: Uint8Array, sig: Uint8Array) => {
    let result: boolean | undefined
    t.doesNotThrow(() => { result = Curve.verify(pub, msg, sig) }, `${what}: no exception`)
    t.equal(result, false, `${what}: refused`)
  }
  refused('31-byte key', v.pub.subarray(1), v.msg, v.sig)
  refused('34-byte key', Buffer.concat([Buffer.from([5, 5]), v.pub]), v.msg, v.sig)
  refused('33-byte key with another type than 5', Buffer.concat([Buffer.from([6]), v.pub]), v.msg, v.sig)
  refused('63-byte signature', v.pub, v.msg, v.sig.subarray(0, 63))
  refused('65-byte signature', v.pub, v.msg, Buffer.concat([v.sig, Buffer.alloc(1)]))
  refused('empty signature', v.pub, v.msg, Buffer.alloc(0))
  refused('zero signature', v.pub, v.msg, Buffer.alloc(64))
  refused('another message', v.pub, Buffer.from('other bytes'), v.sig)
  refused('another key', vectors[2]!.pub, v.msg, v.sig)
  refused('a key of all zeros', Buffer.alloc(32), v.msg, v.sig)
  const P = (1n << 255n) - 19n
  const le = (b: Uint8Array) => BigInt('0x' + (Buffer.from(b).reverse().toString('hex') || '0'))
  const toLE = (n: bigint) => Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse()
  refused('the key u = p - 1 (no Edwards point: u + 1 = 0)', toLE(P - 1n), v.msg, v.sig)
  for (const bit of [0, 100, 255, 256, 400, 510, 511]) {
    const forged = Buffer.from(v0.sig)
    forged[bit >> 3]! ^= 1 << (bit & 7)
    refused(`bit ${bit} flipped (${bit === 511 ? 'the sign bit' : bit < 256 ? 'R' : 's'})`, v0.pub, v0.msg, forged)
  }
  // s + L is the same scalar modulo the group order: a second valid-looking signature of the same
  // message (malleability). The pure-JS reference accepts it; Ed25519 as OpenSSL checks it wants s < L.
  const L = (1n << 252n) + 27742317777372353535851937790883648493n
  const s = le(v.sig.subarray(32))
  t.ok(s + L < 1n << 253n, 's + L still leaves the sign bit clear')
  const malleated = Buffer.concat([v.sig.subarray(0, 32), toLE(s + L)])
  t.ok(reference.verify(v.pub, v.msg, malleated), 'the reference accepts the non-canonical s + L')
  refused('non-canonical s + L', v.pub, v.msg, malleated)
  const highS = Buffer.from(v.sig)
  highS[63]! |= 0x60
  refused('s with bits 253-254 set', v.pub, v.msg, highS)
})

t.test('a sender-key message is signed by Curve.sign', async t => {
  const from = sender()
  await from.repo.encryptGroupMessage({ group, meId: from.jid, data: Buffer.from('creates the sender key') })
  const z = randomBytes(64)
  const { result: message, drawn } = await withRandomness(z, () => from.repo.encryptGroupMessage({ group, meId: from.jid, data: Buffer.from('signed') }))
  t.equal(drawn, 64, 'one nonce drawn for the message')
  const record = JSON.parse(String(Object.values(from.account.keys['sender-key']!)[0])) as Array<{ senderSigningKey: { private: { data: number[] } } }>
  const signingKey = Buffer.from(record[0]!.senderSigningKey.private.data)
  const body = message.ciphertext.subarray(0, -64)
  t.same(Buffer.from(message.ciphertext.subarray(-64)), Buffer.from(reference.sign(signingKey, body, z)),
    'the XEdDSA signature of the message body with that nonce')
})

t.test('X25519 agreements give the RFC 7748 answers, repeated keys included', async t => {
  // RFC 7748, section 6.1.
  const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')
  const alicePub = hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')
  const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb')
  const bobPub = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')
  const shared = hex('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742')
  const base = Buffer.alloc(32)
  base[0] = 9
  for (let round = 0; round < 2; round++) { // the second round finds the imported keys kept
    t.same(Curve.sharedKey(alice, base), alicePub, `round ${round}: Alice's public key`)
    t.same(Curve.sharedKey(bob, base), bobPub, `round ${round}: Bob's public key`)
    t.same(Curve.sharedKey(alice, bobPub), shared, `round ${round}: Alice's shared secret`)
    t.same(Curve.sharedKey(bob, alicePub), shared, `round ${round}: Bob's shared secret`)
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
