import t from 'tap'
import { DisconnectReason, type MessageUserReceiptUpdate } from '@whiskeysockets/baileys'
import { startSimulator } from '../src/index.ts'
import { cloneAuth, connectClient, exitWhenDone, linkClient } from '../src/testing.ts'

exitWhenDone(t)

t.test('faults as the client reports them', async t => {
  const s = await startSimulator()
  t.teardown(() => s.close())
  const phone = '15552220000'
  await s.client.createAccount(phone)

  t.test('428: the socket drops', async t => {
    const client = await linkClient(s.settings, s.client, phone)
    t.same(await s.client.dropDevice(phone, 1), { dropped: 1 })
    t.equal(await client.closed, DisconnectReason.connectionClosed)
    // The device is still linked: it logs in again.
    const again = connectClient(s.settings, cloneAuth(client.auth))
    await again.waitFor(u => u.connection === 'open')
    again.end()
    await again.closed
  })

  t.test('440: replaced', async t => {
    const client = await linkClient(s.settings, s.client, phone)
    const deviceId = Number(client.sock.user!.id.split(':')[1]!.split('@')[0])
    t.same(await s.client.replaceDevice(phone, deviceId), { replaced: 1 })
    t.equal(await client.closed, DisconnectReason.connectionReplaced)
  })

  t.test('a second login of the same device replaces the first, and the log shows the overlap', async t => {
    const client = await linkClient(s.settings, s.client, phone)
    const deviceId = Number(client.sock.user!.id.split(':')[1]!.split('@')[0])
    const twin = connectClient(s.settings, cloneAuth(client.auth))
    t.teardown(() => twin.end())
    t.equal(await client.closed, DisconnectReason.connectionReplaced, 'the first socket gets 440')
    const log = await s.client.deviceConnections(phone, deviceId)
    t.equal(log.maxOpen, 2, 'the simulator saw two simultaneous connections of the device')
    t.ok(log.entries.some(e => e.event === 'replaced'))
  })

  t.test('401: removed from the phone, and it cannot log in again', async t => {
    const client = await linkClient(s.settings, s.client, phone)
    const deviceId = Number(client.sock.user!.id.split(':')[1]!.split('@')[0])
    await s.client.logoutDevice(phone, deviceId)
    t.equal(await client.closed, DisconnectReason.loggedOut)
    const again = connectClient(s.settings, cloneAuth(client.auth))
    t.equal(await again.closed, DisconnectReason.loggedOut, 'the next login is refused with 401')
    t.notOk((await s.client.account(phone)).devices.some(d => d.id === deviceId))
  })

  t.test('refused connections for a period', async t => {
    const client = await linkClient(s.settings, s.client, phone)
    const auth = cloneAuth(client.auth)
    client.end()
    await client.closed
    // Long enough that the attempt below lands inside the period however loaded the machine is.
    const { refuseUntil } = await s.client.refuseConnections(5000)
    const refused = connectClient(s.settings, cloneAuth(auth))
    const code = await refused.closed
    t.ok(code !== undefined && code !== DisconnectReason.loggedOut, `refused without a logout (${String(code)})`)
    // Waits out the period the simulator announced (same machine, same clock).
    await new Promise(resolve => setTimeout(resolve, Math.max(0, Date.parse(refuseUntil) - Date.now()) + 50))
    const later = connectClient(s.settings, auth)
    await later.waitFor(u => u.connection === 'open')
    t.pass('accepted once the period is over')
    later.end()
  })

  t.test('delayed replies', async t => {
    const client = await linkClient(s.settings, s.client, phone)
    t.teardown(() => client.end())
    await s.client.delayReplies(400, phone)
    const started = Date.now()
    await client.sock.query({ tag: 'iq', attrs: { to: 's.whatsapp.net', type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] })
    t.ok(Date.now() - started >= 380, 'the ping answer waited for the delay')
    await s.client.delayReplies(0, phone)
  })
})

t.test('a replaced socket whose client cannot answer (a paused process) gets nothing more, and is dropped soon', async t => {
  const s = await startSimulator()
  t.teardown(() => s.close())
  const [sender, viewer] = ['15553350000', '15553350001']
  for (const p of [sender, viewer]) await s.client.createAccount(p)
  const client = await linkClient(s.settings, s.client, sender)
  const deviceId = Number(client.sock.user!.id.split(':')[1]!.split('@')[0])
  const msg = await client.sock.sendMessage('status@broadcast', { text: 'hello' }, { statusJidList: [`${sender}@s.whatsapp.net`, `${viewer}@s.whatsapp.net`], broadcast: true } as any)
  const id = msg!.key.id!
  await s.client.status(sender, id, 30_000)

  // The first client stops reading its socket, as a SIGSTOPped process would: it never sees the 440.
  ;(client.sock.ws as unknown as { socket: { _socket: { pause (): void } } }).socket._socket.pause()
  const twin = connectClient(s.settings, cloneAuth(client.auth))
  t.teardown(() => { twin.end(); client.end() })
  const seen: MessageUserReceiptUpdate[] = []
  twin.sock.ev.on('message-receipt.update', updates => seen.push(...updates))
  await twin.waitFor(u => u.connection === 'open')

  const res = await s.client.viewStatus(sender, id)
  t.same(res, { viewers: 1, delivered: 1, queued: 0 }, 'the receipt went to a socket')
  for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise(resolve => setTimeout(resolve, 50))
  t.equal(seen.length, 1, 'to the live one: the client that took over has the view')

  for (let i = 0; i < 100 && (await s.client.deviceConnections(sender, deviceId)).open > 1; i++) await new Promise(resolve => setTimeout(resolve, 100))
  const log = await s.client.deviceConnections(sender, deviceId)
  t.equal(log.open, 1, 'the unanswering socket was dropped')
  const replaced = log.entries.find(e => e.event === 'replaced')!
  const gone = log.entries.find(e => e.event === 'disconnect' && e.connId === replaced.connId)!
  t.ok(gone.at - replaced.at < 20_000, `within seconds of the 440, not after ws's 30 s close timeout (${gone.at - replaced.at} ms)`)
})

t.test('a burst of read and played receipts for a video, queued while the device is offline', async t => {
  const s = await startSimulator()
  t.teardown(() => s.close())
  const sender = '15553330000'
  await s.client.createAccount(sender)
  const viewers = Array.from({ length: 300 }, (_, i) => String(15553340000 + i))
  for (const v of viewers) await s.client.createAccount(v)
  const client = await linkClient(s.settings, s.client, sender)
  const jids = [sender, ...viewers].map(p => `${p}@s.whatsapp.net`)
  const msg = await client.sock.sendMessage('status@broadcast', { video: Buffer.concat([Buffer.from('000000186674797069736f6d0000020069736f6d69736f32', 'hex'), Buffer.alloc(512)]), mimetype: 'video/mp4' }, { statusJidList: jids, broadcast: true } as any)
  const id = msg!.key.id!
  const record = await s.client.status(sender, id, 30_000)
  t.equal(record.recipients.filter(r => r.decrypted).length, 301, 'all 300 contacts and the sender decrypted it')

  // Offline: receipts wait for the device.
  const auth = cloneAuth(client.auth)
  client.end()
  await client.closed
  const at = Date.parse('2026-03-01T10:00:00Z')
  const res = await s.client.viewStatus(sender, id, { at })
  t.same(res, { viewers: 300, delivered: 0, queued: 600 }, 'read and played for each viewer, queued')

  const back = connectClient(s.settings, auth)
  t.teardown(() => back.end())
  const seen = new Map<string, MessageUserReceiptUpdate>()
  back.sock.ev.on('message-receipt.update', updates => { for (const u of updates) seen.set(u.receipt.userJid!, u) })
  await back.waitFor(u => u.connection === 'open')
  for (let i = 0; i < 200 && seen.size < 300; i++) await new Promise(resolve => setTimeout(resolve, 50))
  t.equal(seen.size, 300, 'every viewer reached the client after it came back')
  t.ok([...seen.values()].every(u => u.receipt.readTimestamp === at / 1000), 'with the view time')
})
