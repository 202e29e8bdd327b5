import t from 'tap'
import { DisconnectReason } from '@whiskeysockets/baileys'
import { startSimulator } from '../src/index.ts'
import { cloneAuth, connectClient, exitWhenDone, linkClient } from '../src/testing.ts'

exitWhenDone(t)

t.test('QR link, then re-login with saved creds', async t => {
  const s = await startSimulator()
  t.teardown(() => s.close())
  await s.client.createAccount('15550000001')
  const client = await linkClient(s.settings, s.client, '15550000001', 'qr')
  t.match(client.sock.user?.id, /^15550000001:1@s\.whatsapp\.net$/)
  const account = await s.client.account('15550000001')
  t.equal(account.devices.length, 1, 'the phone lists one linked device')
  const saved = cloneAuth(client.auth)
  client.end()
  await client.closed
  const again = connectClient(s.settings, saved)
  t.teardown(() => again.end())
  await again.waitFor(u => u.connection === 'open')
  t.notOk(again.updates.some(u => u.qr), 'no QR shown on re-login')
  t.equal((await s.client.account('15550000001')).devices.length, 1, 'still one device: no re-link')
  const log = await s.client.deviceConnections('15550000001', 1)
  t.equal(log.maxOpen, 1, 'never two connections of the device at once')
})

t.test('a client that does not trust the simulator\'s root refuses its certificate', async t => {
  const s = await startSimulator()
  t.teardown(() => s.close())
  const other = await startSimulator()
  t.teardown(() => other.close())
  // Trusting another simulator's root: the chain this one presents does not verify.
  const client = connectClient({ ...s.settings, WA_TRUST_ROOT: other.settings.WA_TRUST_ROOT })
  t.teardown(() => client.end())
  const code = await client.closed
  t.notOk(client.updates.some(u => u.qr), 'no QR code: the handshake failed first')
  t.equal(code, 400, 'closed over the invalid certificate signature')
  const trusted = connectClient(s.settings)
  t.teardown(() => trusted.end())
  t.ok(await trusted.waitFor(u => Boolean(u.qr)), 'the same server with its own root trusted shows a QR code')
})

t.test('a chain whose leaf certifies another key than the server\'s static key is refused (a replayed chain)', async t => {
  const s = await startSimulator()
  t.teardown(() => s.close())
  // Signed by the trusted root through the intermediate, as WhatsApp's own chain would be, but the
  // leaf names a key this server does not hold.
  t.same(await s.client.presentForeignLeafKey(), { foreignLeafKey: true })
  const client = connectClient(s.settings)
  t.teardown(() => client.end())
  const outcome = await Promise.race([client.closed, client.waitFor(u => Boolean(u.qr)).then(() => 'a QR code: the chain was accepted', () => 'no answer')])
  t.equal(outcome, 400, 'closed over the certificate, before any QR code')
  await s.client.presentForeignLeafKey(false)
  const genuine = connectClient(s.settings)
  t.teardown(() => genuine.end())
  t.ok(await genuine.waitFor(u => Boolean(u.qr)), 'the chain for its own static key still links')
})

t.test('pairing-code link; a wrong code links nothing', async t => {
  const s = await startSimulator()
  t.teardown(() => s.close())
  await s.client.createAccount('15550000002')

  const { connectClient: connect, newMemoryAuth } = await import('../src/testing.ts')
  const auth = newMemoryAuth()
  const first = connect(s.settings, auth)
  t.teardown(() => first.end())
  await first.waitFor(u => !!u.qr)
  const code = await first.sock.requestPairingCode('15550000002')
  t.match(code, /^[0-9A-Z]{8}$/, 'an 8-character code')
  t.ok((await s.client.pairingCodePending('15550000002')).pending, 'the phone sees a pending request')
  const wrong = code.split('').reverse().join('') === code ? 'ZZZZZZZZ' : code.split('').reverse().join('')
  const failed = await s.client.enterPairingCode('15550000002', wrong)
  t.same(failed, { linked: false, error: 'wrong pairing code' })
  t.equal((await s.client.account('15550000002')).devices.length, 0, 'nothing linked after a wrong code')
  t.notOk(first.updates.some(u => u.connection === 'open'), 'the client did not log in')

  const client = await linkClient(s.settings, s.client, '15550000002', 'code')
  t.teardown(() => client.end())
  t.match(client.sock.user?.id, /^15550000002:1@s\.whatsapp\.net$/)
  t.equal(client.sock.user?.lid, `${(await s.client.account('15550000002')).lid}:1@lid`, 'the LID from pair-success')
  t.equal((await s.client.account('15550000002')).devices.length, 1)
})

t.test('a device that does not exist is refused with 401', async t => {
  const s = await startSimulator()
  t.teardown(() => s.close())
  await s.client.createAccount('15550000003')
  const { newMemoryAuth } = await import('../src/testing.ts')
  const auth = newMemoryAuth()
  auth.creds.me = { id: '15550000003:7@s.whatsapp.net', name: '~' }
  const c = connectClient(s.settings, auth)
  t.equal(await c.closed, DisconnectReason.loggedOut)
})
