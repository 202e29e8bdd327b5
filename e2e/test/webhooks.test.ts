import t from 'tap'
import { randomUUID } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { startReceiver, type Received } from '@wss/webhooks/testing'
import { socketIoClient } from '../src/events.ts'
import { eventually, startStack } from '../src/stack.ts'

type Delivery = Received

/** A webhook receiver on 127.0.0.1: records every request, answers with the status `answer` gives. */
const receiver = (t: { teardown (fn: () => unknown): void }, answer: (d: Delivery) => number = () => 200) =>
  startReceiver(t, d => ({ status: answer(d) }))

// Loopback receivers are allowed here only; a short retry schedule stands in for the day-long one.
const env = { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_SCHEDULE_MS: '3000,3000,3000' }

t.test('a status sent and viewed reaches a receiver as signed deliveries whose data is the socket payload', async t => {
  const stack = await startStack(t, { apis: 1, workers: 1, env })
  const { sim } = stack
  const me = '15557770000'
  const alice = '15557770001'
  for (const p of [me, alice]) await sim.client.createAccount(p)
  const hooks = await receiver(t)
  const sessionId = `hook-${randomUUID().slice(0, 6)}`
  const created = await stack.api('POST', '/api/webhooks', { url: hooks.url, events: ['status-sent', 'status-viewers-update'], sessionIds: [sessionId] })
  t.equal(created.status, 201, JSON.stringify(created.body))
  const { secret } = created.body.data
  const sio = await socketIoClient(t, stack.apis[0]!.url, stack.apiKey)

  t.equal((await stack.api('POST', '/api/sessions', { sessionId, sessionName: 'Hooks', authMethod: 'pairing', phoneNumber: me })).status, 201)
  let code: string | undefined
  await eventually(async () => { code = (await stack.api('GET', `/api/sessions/${sessionId}/pairing-code`)).body?.data?.pairingCode; return !!code }, 20_000)
  await sim.client.enterPairingCode(me, code!)
  await sio.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected === true)

  const sent = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content: 'Hooked', targetNumbers: alice })
  t.equal(sent.status, 201, JSON.stringify(sent.body))
  const statusId = sent.body.data.id
  const sentEvent = await sio.waitFor(e => e.event === 'status-sent' && e.data.id === statusId)
  let onPhone: any
  await eventually(async () => { onPhone = (await sim.client.statuses(me)).find((s: any) => s.text === 'Hooked'); return !!onPhone }, 15_000)
  await sim.client.viewStatus(me, onPhone.id, { viewers: [alice], at: Date.parse('2026-06-01T08:00:00Z') })
  const viewersEvent = await sio.waitFor(e => e.event === 'status-viewers-update' && e.data.statusId === statusId)

  const verify = (d: Delivery) => new Webhook(secret).verify(d.body, d.headers as Record<string, string>) as { type: string, timestamp: string, data: any }
  const deliveredAs = (type: string) => hooks.received.map(verify).find(p => p.type === type)
  t.ok(await eventually(() => deliveredAs('status-sent') !== undefined && deliveredAs('status-viewers-update') !== undefined, 20_000), 'both arrived')
  t.same(deliveredAs('status-sent')!.data, sentEvent.data, 'status-sent: the socket payload')
  t.same(deliveredAs('status-viewers-update')!.data, viewersEvent.data, 'status-viewers-update: the socket payload')
  t.notOk(hooks.received.map(verify).some(p => p.type === 'connection-status'), 'only the events asked for')

  const deliveries = await stack.api('GET', `/api/webhooks/${created.body.data.id}/deliveries?state=delivered`)
  t.ok(deliveries.body.data.length >= 2)
  t.match(deliveries.body.data[0], { state: 'delivered', attempts: 1, lastStatusCode: 200 })
})

t.test('a worker killed while a delivery waits for its retry: another worker sends it, each attempt once', async t => {
  const stack = await startStack(t, { apis: 1, workers: 1, env })
  let calls = 0
  const hooks = await receiver(t, () => ++calls === 1 ? 500 : 200)
  const created = await stack.api('POST', '/api/webhooks', { url: hooks.url })
  const id = created.body.data.id
  const test = await stack.api('POST', `/api/webhooks/${id}/test`)
  t.equal(test.status, 202)
  const deliveryId = test.body.data.id
  const read = async () => (await stack.api('GET', `/api/webhooks/${id}/deliveries`)).body.data.find((d: any) => d.id === deliveryId)
  t.ok(await eventually(async () => (await read())?.lastStatusCode === 500, 20_000), 'attempt 1 failed')
  t.match(await read(), { state: 'pending', attempts: 1, lastStatusCode: 500, nextAttemptAt: String }, 'attempt 2 scheduled')

  await stack.addWorker()
  const first = stack.workers[0]!
  first.proc.kill('SIGKILL')
  await first.exited
  t.ok(await eventually(async () => (await read())?.state === 'delivered', 30_000), 'delivered by the other worker')
  t.match(await read(), { attempts: 2, lastStatusCode: 200 })
  t.same(hooks.received.map(d => [d.id, d.attempt]), [[deliveryId, 1], [deliveryId, 2]], 'each attempt once, one webhook-id')
  const verified = new Webhook(created.body.data.secret).verify(hooks.received[1]!.body, hooks.received[1]!.headers as Record<string, string>) as { type: string }
  t.equal(verified.type, 'webhook.test')
})

t.test('the only worker stopped with deliveries pending: a worker started later sends each of them once, verifiably', async t => {
  const stack = await startStack(t, { apis: 1, workers: 1, env })
  let calls = 0
  const hooks = await receiver(t, () => ++calls === 1 ? 500 : 200)
  const created = await stack.api('POST', '/api/webhooks', { url: hooks.url })
  const { id, secret } = created.body.data
  const read = async (deliveryId: string) => (await stack.api('GET', `/api/webhooks/${id}/deliveries`)).body.data.find((d: any) => d.id === deliveryId)
  const waiting = (await stack.api('POST', `/api/webhooks/${id}/test`)).body.data.id
  t.ok(await eventually(async () => (await read(waiting))?.lastStatusCode === 500, 20_000), 'attempt 1 failed: the delivery waits for its retry')

  const [worker] = stack.workers
  worker!.proc.kill('SIGTERM')
  t.equal(await worker!.exited, 0, 'the worker stopped cleanly')
  const queued = [(await stack.api('POST', `/api/webhooks/${id}/test`)).body.data.id, (await stack.api('POST', `/api/webhooks/${id}/test`)).body.data.id]
  await new Promise(resolve => setTimeout(resolve, 4000)) // past the retry's due time
  t.equal(hooks.received.length, 1, 'nothing goes out while no worker runs')
  for (const d of [waiting, ...queued]) t.match(await read(d), { state: 'pending' })

  await stack.addWorker()
  t.ok(await eventually(async () => {
    const states = await Promise.all([waiting, ...queued].map(async d => (await read(d))?.state))
    return states.every(s => s === 'delivered')
  }, 30_000), 'the new worker delivered all three')
  t.same(hooks.received.map(d => [d.id, d.attempt]).sort(), [[waiting, 1], [waiting, 2], [queued[0], 1], [queued[1], 1]].sort(), 'each attempt once, one webhook-id per delivery')
  for (const d of hooks.received) {
    const verified = new Webhook(secret).verify(d.body, d.headers as Record<string, string>) as { type: string }
    t.equal(verified.type, 'webhook.test')
  }
})

t.test('redeliver sends a finished delivery again: same webhook-id, the next attempt, verifiable', async t => {
  const stack = await startStack(t, { apis: 1, workers: 1, env })
  const hooks = await receiver(t)
  const created = await stack.api('POST', '/api/webhooks', { url: hooks.url })
  const { id, secret } = created.body.data
  const deliveryId = (await stack.api('POST', `/api/webhooks/${id}/test`)).body.data.id
  const read = async () => (await stack.api('GET', `/api/webhooks/${id}/deliveries`)).body.data.find((d: any) => d.id === deliveryId)
  t.ok(await eventually(async () => (await read())?.state === 'delivered', 20_000))
  t.equal(hooks.received.length, 1)

  const again = await stack.api('POST', `/api/webhooks/${id}/deliveries/${deliveryId}/redeliver`)
  t.equal(again.status, 202)
  t.equal(again.body.data.id, deliveryId) // pending, or already claimed by the worker: attempts may read 1 or 2
  t.ok(await eventually(() => hooks.received.length === 2, 20_000), 'sent again')
  const [first, second] = hooks.received
  t.same([second!.id, second!.attempt], [deliveryId, 2], 'the same webhook-id, attempt 2')
  const verify = (d: Delivery) => new Webhook(secret).verify(d.body, d.headers as Record<string, string>) as { type: string, data: unknown }
  t.same(verify(second!), verify(first!), 'the same signed event')
  t.ok(await eventually(async () => (await read())?.state === 'delivered', 20_000))
  t.match(await read(), { state: 'delivered', attempts: 2, lastStatusCode: 200 })
})
