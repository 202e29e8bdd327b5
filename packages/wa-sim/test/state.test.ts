import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSimulator } from '../src/index.ts'
import { cloneAuth, connectClient, exitWhenDone, linkClient } from '../src/testing.ts'

exitWhenDone(t)

t.test('state saved and restored: a linked device logs in again after a simulator restart', async t => {
  const stateFile = join(mkdtempSync(join(tmpdir(), 'wa-sim-')), 'state.json')
  const first = await startSimulator({ stateFile })
  const phone = '15554440000'
  await first.client.createAccount(phone, { name: 'Saved' })
  await first.client.createAccount('15554440001')
  await first.client.addContacts(phone, ['15554440001'])
  const client = await linkClient(first.settings, first.client, phone)
  const auth = cloneAuth(client.auth)
  const before = await first.client.account(phone)
  t.same(await first.client.saveState(), { path: stateFile })
  client.end()
  await first.close()

  const second = await startSimulator({ stateFile })
  t.teardown(() => second.close())
  t.equal(second.settings.WA_TRUST_ROOT, first.settings.WA_TRUST_ROOT, 'the same trust root')
  t.equal(second.settings.WA_MEDIA_CA, first.settings.WA_MEDIA_CA, 'the same media certificate')
  t.same(await second.client.account(phone), before, 'account, LID, contacts and devices restored')
  const again = connectClient(second.settings, auth)
  t.teardown(() => again.end())
  await again.waitFor(u => u.connection === 'open')
  t.notOk(again.updates.some(u => u.qr), 'logged in without re-linking')

  // Signal state survived too: a status still reaches the contact.
  const msg = await again.sock.sendMessage('status@broadcast', { text: 'after restart' }, { statusJidList: [`${phone}@s.whatsapp.net`, '15554440001@s.whatsapp.net'], broadcast: true } as any)
  const record = await second.client.status(phone, msg!.key.id!, 10_000)
  t.equal(record.text, 'after restart')
  t.ok(record.recipients.find(r => r.phone === '15554440001')?.decrypted, 'the contact decrypted it')
})

t.test('control API errors name the problem', async t => {
  const s = await startSimulator()
  t.teardown(() => s.close())
  const res = await fetch(`${s.url}/sim/accounts`, { method: 'POST', body: JSON.stringify({ phone: 'abc' }) })
  t.equal(res.status, 400)
  t.match(await res.json(), { error: /phone/ })
  const missing = await fetch(`${s.url}/sim/accounts/999999999/statuses`)
  t.equal(missing.status, 404)
  await s.client.createAccount('15554449999')
  const dup = await fetch(`${s.url}/sim/accounts`, { method: 'POST', body: JSON.stringify({ phone: '15554449999' }) })
  t.equal(dup.status, 409)
})
