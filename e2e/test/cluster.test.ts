import t from 'tap'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { socketIoClient } from '../src/events.ts'
import { eventually, startStack, type Stack } from '../src/stack.ts'

const png = readFileSync(new URL('./fixtures/red.png', import.meta.url))

/** Creates a pairing session through an API node and links it from the simulated phone. */
async function linkSession (stack: Stack, phone: string, node = 0) {
  const sessionId = `s-${phone.slice(-4)}-${randomUUID().slice(0, 4)}`
  const created = await stack.api('POST', '/api/sessions', { sessionId, sessionName: phone, phoneNumber: phone }, { node })
  if (created.status !== 201) throw new Error(`create failed: ${JSON.stringify(created.body)}`)
  let code: string | undefined
  await eventually(async () => {
    code = (await stack.api('GET', `/api/sessions/${sessionId}/pairing-code`, undefined, { node })).body?.data?.pairingCode
    return !!code
  }, 20_000)
  const linked = await stack.sim.client.enterPairingCode(phone, code!)
  if (!linked.linked) throw new Error('link failed')
  const up = await eventually(async () => (await stack.api('GET', `/api/sessions/${sessionId}/connection-status`, undefined, { node })).body?.data?.connected === true, 20_000)
  if (!up) throw new Error('session did not connect')
  return sessionId
}

t.test('two API nodes, two worker processes, and a third that joins', async t => {
  const stack = await startStack(t, { apis: 2, workers: 2 })
  const { sim } = stack
  const phones = ['15559990001', '15559990002', '15559990003', '15559990004']
  const contact = '15559990099'
  for (const p of [...phones, contact]) await sim.client.createAccount(p)
  const sio = [await socketIoClient(t, stack.apis[0]!.url, stack.apiKey), await socketIoClient(t, stack.apis[1]!.url, stack.apiKey)]

  const sessions: string[] = []
  for (const [i, p] of phones.entries()) sessions.push(await linkSession(stack, p, i % 2))
  const owners = await Promise.all(sessions.map(s => stack.ownerOf(s)))
  const [w1, w2] = stack.workers.map(w => w.id)
  t.same(owners.filter(o => o === w1).length, 2, 'new sessions are spread to the least-loaded worker')
  t.same(owners.filter(o => o === w2).length, 2)

  // An event raised on either worker reaches Socket.IO clients on either API node.
  for (const sessionId of sessions) {
    for (const client of sio) await client.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected)
  }
  t.pass('every connection-status reached both API nodes\' clients')

  // An upload through API node 1, sent by the worker process that owns the session.
  const up = new FormData()
  up.append('image', new Blob([png], { type: 'image/png' }), 'x.png')
  const uploaded = await stack.api('POST', '/api/upload-image', up, { node: 1 })
  t.ok([200, 201].includes(uploaded.status))
  const target = sessions[owners.indexOf(w1)]!
  const sent = await stack.api('POST', `/api/sessions/${target}/send-status`, { type: 'image', content: uploaded.body.data.filename, targetNumbers: contact }, { node: 0 })
  t.equal(sent.status, 201, JSON.stringify(sent.body))
  const phone = phones[sessions.indexOf(target)]!
  t.ok(await eventually(async () => (await sim.client.statuses(phone)).some(s => s.type === 'image' && s.recipients.some(r => r.phone === contact && r.decrypted))), 'the contact got the image')
  for (const client of sio) await client.waitFor(e => e.event === 'status-sent' && e.data.id === sent.body.data.id)

  // Killing a worker moves its sessions to the other within 15 s.
  const victim = stack.workers[0]!
  const moved = sessions.filter((_, i) => owners[i] === victim.id)
  const killedAt = Date.now()
  victim.proc.kill('SIGKILL')
  const allBack = await eventually(async () => {
    for (const s of moved) {
      if ((await stack.ownerOf(s)) !== w2) return false
      if ((await stack.api('GET', `/api/sessions/${s}/connection-status`)).body?.data?.connected !== true) return false
    }
    return true
  }, 20_000, 200)
  const tookMs = Date.now() - killedAt
  t.ok(allBack, 'the dead worker\'s sessions are connected on the survivor')
  t.ok(tookMs <= 15_000, `within 15 s (${tookMs} ms)`)

  // A third worker that joins gets the next new sessions.
  const w3 = await stack.addWorker()
  const extra = ['15559990005', '15559990006']
  for (const p of extra) await sim.client.createAccount(p)
  const newSessions = [await linkSession(stack, extra[0]!), await linkSession(stack, extra[1]!, 1)]
  t.same(await Promise.all(newSessions.map(s => stack.ownerOf(s))), [w3.id, w3.id], 'the least-loaded (new) worker took them')

  // A rolling restart: a worker stopped gracefully hands its sessions over at once.
  const survivor = stack.workers[1]!
  const allSessions = [...sessions, ...newSessions]
  const currentOwners = await Promise.all(allSessions.map(s => stack.ownerOf(s)))
  const handed = allSessions.filter((_, i) => currentOwners[i] === survivor.id)
  t.ok(handed.length >= 4, `the worker to stop runs ${handed.length} sessions`)
  const stoppedAt = Date.now()
  survivor.proc.kill('SIGTERM')
  await survivor.exited
  const allMoved = await eventually(async () => {
    for (const s of handed) if ((await stack.api('GET', `/api/sessions/${s}/connection-status`)).body?.data?.connected !== true) return false
    return true
  }, 20_000, 200)
  t.ok(allMoved, `after a graceful stop the sessions run on the remaining worker (${Date.now() - stoppedAt} ms)`)
  t.same([...new Set(await Promise.all(handed.map(s => stack.ownerOf(s))))], [w3.id])

  const logs = await sim.client.connections()
  t.ok(Object.values(logs).every(l => l.maxOpen <= 1), 'the simulator never saw two connections of one device')
})
