// The signature checks of the patched Baileys (see ARCHITECTURE.md, "Patched dependencies"): status
// messages carry a sender-key signature that recipients verify natively; a forged one is refused.
import t from 'tap'
import { Curve } from '@whiskeysockets/baileys'
import { newAccount } from '../src/state.ts'
import { phoneSignalRepository } from '../src/signal-store.ts'

const group = 'status@broadcast'

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
