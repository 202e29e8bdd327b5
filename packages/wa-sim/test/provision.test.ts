import t from 'tap'
import { startSimulator } from '../src/index.ts'
import type { SimClientError } from '../src/client.ts'
import { connectClient, exitWhenDone, provisionAuth } from '../src/testing.ts'

exitWhenDone(t)

t.test('a provisioned device logs in like a QR-linked one, uploads no pre-keys, and its status reaches a contact', async t => {
  const s = await startSimulator()
  t.teardown(() => s.close())
  await s.client.createAccount('15550000101')
  await s.client.createAccount('15550000102')
  await s.client.addContacts('15550000101', ['15550000102'])
  const auth = await provisionAuth(s.client, '15550000101', 20)
  t.match(auth.creds.me?.id, /^15550000101:1@s\.whatsapp\.net$/, 'the credentials name the linked device')
  t.ok(auth.creds.account?.deviceSignature?.length, 'the device signed its ADV identity, as on pair-success')
  t.equal((await s.client.account('15550000101')).devices.length, 1, 'the phone lists the device')

  const client = connectClient(s.settings, auth)
  t.teardown(() => client.end())
  await client.waitFor(u => u.connection === 'open')
  t.notOk(client.updates.some(u => u.qr), 'no QR code: it logged in with its credentials')
  t.equal(auth.creds.nextPreKeyId, 21, 'no pre-key generated at login: the server had enough')

  const msg = await client.sock.sendMessage('status@broadcast', { text: 'provisioned' },
    { statusJidList: ['15550000101@s.whatsapp.net', '15550000102@s.whatsapp.net'], broadcast: true })
  const status = await s.client.status('15550000101', msg!.key.id!, 15_000)
  t.equal(status.text, 'provisioned')
  t.ok(status.recipients.find(r => r.phone === '15550000102')?.decrypted, 'the contact decrypted it')
})

t.test('provisioning names its bad input', async t => {
  const s = await startSimulator()
  t.teardown(() => s.close())
  await s.client.createAccount('15550000103')
  const bad = await s.client.provisionDevice('15550000103', { noisePub: 'x' } as never).catch((err: unknown) => err as SimClientError)
  t.match(bad, { status: 400, message: 'noisePub must be a base64 32-byte key' })
  const unknown = await provisionAuth(s.client, '15550000199').catch((err: unknown) => err as SimClientError)
  t.match(unknown, { status: 404 }, 'an unknown account')
  t.equal((await s.client.account('15550000103')).devices.length, 0, 'nothing linked')
})
