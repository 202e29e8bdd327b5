// Scheduled statuses through the whole stack: the worker that owned the session when the status was
// scheduled is killed before its time; the status is still sent once, at its time, by the worker that
// owns the session then. A cancelled one never reaches anyone. A Redis restart that loses every key
// (the delayed job with them) does not lose the status.
import t from 'tap'
import { socketIoClient } from '../src/events.ts'
import { privateRedis } from '../src/private-redis.ts'
import { linkSession } from '../src/link.ts'
import { eventually, startStack } from '../src/stack.ts'

t.test('a scheduled status is sent once at its time after its worker was killed; a cancelled one never', async t => {
  const stack = await startStack(t, { workers: 2 })
  const { sim } = stack
  const phone = '15557770001'
  const contact = '15557770099'
  for (const p of [phone, contact]) await sim.client.createAccount(p)
  const sessionId = await linkSession(stack, phone, 'sched')
  const sio = await socketIoClient(t, stack.apis[0]!.url, stack.apiKey)
  const ownerId = await stack.ownerOf(sessionId)
  const victim = stack.workers.find(w => w.id === ownerId)!
  t.ok(victim, 'the session has an owner')

  const scheduledAt = new Date(Date.now() + 12_000).toISOString()
  const keep = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content: 'scheduled once', targetNumbers: contact, scheduledAt })
  t.equal(keep.status, 202, JSON.stringify(keep.body))
  t.equal(keep.body.data.state, 'scheduled')
  const drop = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content: 'cancelled never', targetNumbers: contact, scheduledAt })
  t.equal(drop.status, 202)
  const cancelled = await stack.api('DELETE', `/api/sessions/${sessionId}/statuses/${drop.body.data.id}`)
  t.equal(cancelled.status, 200)
  t.equal(cancelled.body.data.state, 'cancelled')
  await sio.waitFor(e => e.event === 'status-cancelled' && e.data.id === drop.body.data.id)
  const listed = await stack.api('GET', `/api/sessions/${sessionId}/statuses?state=scheduled`)
  t.same(listed.body.data.map((s: { id: string }) => s.id), [keep.body.data.id], 'only the kept one is still scheduled')

  // The owner dies between scheduling and the status's time.
  victim.proc.kill('SIGKILL')
  await victim.exited
  t.ok(Date.now() < Date.parse(scheduledAt), 'the owner was killed before the status was due')

  const sent = await sio.waitFor(e => e.event === 'status-sent' && e.data.id === keep.body.data.id, 60_000)
  t.ok(sent, 'status-sent arrived')
  const row = (await stack.api('GET', `/api/sessions/${sessionId}/statuses/${keep.body.data.id}`)).body.data
  t.equal(row.state, 'sent')
  t.ok(Date.parse(row.sentAt) >= Date.parse(scheduledAt), 'not before its time')
  t.not(await stack.ownerOf(sessionId), victim.id, 'sent by the worker that owns the session now')

  const received = async () => (await sim.client.statuses(phone)).filter(s => s.text === 'scheduled once')
  t.ok(await eventually(async () => (await received()).some(s => s.recipients.some(r => r.phone === contact && r.decrypted))), 'the contact got it')
  // Past its time by a few seconds more: nothing else arrives (neither a second copy nor the cancelled one).
  await new Promise(resolve => setTimeout(resolve, 4000))
  const copies = await received()
  t.equal(copies.length, 1, 'one status on WhatsApp')
  t.equal(copies[0]!.stanzas ?? 1, 1, 'sent in one stanza, never again')
  t.same((await sim.client.statuses(phone)).filter(s => s.text === 'cancelled never'), [], 'the cancelled status never reached WhatsApp')
  t.equal((await stack.api('GET', `/api/sessions/${sessionId}/statuses/${drop.body.data.id}`)).body.data.state, 'cancelled')
})

t.test('a Redis restart that loses every key, delayed jobs included, does not lose a scheduled status', async t => {
  const redis = await privateRedis(t)
  const stack = await startStack(t, { workers: 1, redisUrl: redis.url })
  const { sim } = stack
  const phone = '15557770002'
  const contact = '15557770098'
  for (const p of [phone, contact]) await sim.client.createAccount(p)
  const sessionId = await linkSession(stack, phone, 'sched')

  const scheduledAt = new Date(Date.now() + 6000).toISOString()
  const res = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content: 'after the flush', targetNumbers: contact, scheduledAt })
  t.equal(res.status, 202, JSON.stringify(res.body))
  await redis.stop()
  await new Promise(resolve => setTimeout(resolve, 3000))
  await redis.start()

  const sent = await eventually(async () => (await stack.api('GET', `/api/sessions/${sessionId}/statuses/${res.body.data.id}`)).body?.data?.state === 'sent', 60_000, 250)
  t.ok(sent, 'sent once the workers were back, from the row')
  t.match(stack.logs(), /scheduled statuses queued again after an outage/, 'its job was queued again when the lease recovered')
  const row = (await stack.api('GET', `/api/sessions/${sessionId}/statuses/${res.body.data.id}`)).body.data
  t.ok(Date.parse(row.sentAt) >= Date.parse(scheduledAt), 'not before its time')
  await new Promise(resolve => setTimeout(resolve, 2000))
  const copies = (await sim.client.statuses(phone)).filter(s => s.text === 'after the flush')
  t.equal(copies.length, 1, 'one status on WhatsApp')
  t.ok(copies[0]!.recipients.some(r => r.phone === contact && r.decrypted), 'the contact got it')
})
