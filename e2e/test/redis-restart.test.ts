import t from 'tap'
import { randomUUID } from 'node:crypto'
import { eventually, startStack } from '../src/stack.ts'
import { privateRedis } from '../src/private-redis.ts'

t.test('Redis restarts during a run', async t => {
  const redis = await privateRedis(t)
  const stack = await startStack(t, { apis: 1, workers: 2, redisUrl: redis.url })
  const { sim } = stack
  const phone = '15556660000'
  await sim.client.createAccount(phone)
  await sim.client.createAccount('15556660001')
  const sessionId = `r-${randomUUID().slice(0, 6)}`
  t.equal((await stack.api('POST', '/api/sessions', { sessionId, sessionName: 'r', phoneNumber: phone })).status, 201)
  let code: string | undefined
  await eventually(async () => { code = (await stack.api('GET', `/api/sessions/${sessionId}/pairing-code`)).body?.data?.pairingCode; return !!code }, 20_000)
  t.equal((await sim.client.enterPairingCode(phone, code!)).linked, true)
  t.ok(await eventually(async () => (await stack.api('GET', `/api/sessions/${sessionId}/connection-status`)).body?.data?.connected === true, 20_000))

  await redis.stop()
  // connection-status may answer from its cache until the node sees Redis gone; from then on, 503.
  let during: Awaited<ReturnType<typeof stack.api>> | undefined
  t.ok(await eventually(async () => { during = await stack.api('GET', `/api/sessions/${sessionId}/connection-status`); return during.status === 503 }, 15_000),
    'the API answers 503 while Redis is down')
  t.same(during?.body, { success: false, error: 'A dependency is unavailable', code: 'DEPENDENCY_UNAVAILABLE' }, 'in the envelope, naming no secret')
  await new Promise(resolve => setTimeout(resolve, 3000))
  await redis.start()

  t.ok(await eventually(async () => (await stack.api('GET', `/api/sessions/${sessionId}/connection-status`)).body?.data?.connected === true, 30_000, 250), 'the session came back by itself')
  const sent = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content: 'after the outage', targetNumbers: '15556660001' })
  t.equal(sent.status, 201, JSON.stringify(sent.body))

  // Redis unreachable for longer than the lease, its data kept (every client paused): the workers
  // stop their sessions, the API does not report a session it cannot vouch for, and all comes back.
  const { Redis } = await import('ioredis')
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  await admin.call('CLIENT', 'PAUSE', '7000', 'ALL')
  await admin.ping() // answered once the pause is over
  const right = await stack.api('GET', `/api/sessions/${sessionId}/connection-status`)
  t.equal(right.status, 200, 'the API answers right after the outage')
  t.match(right.body, { success: true, data: { sessionId, connected: false } }, 'not reported connected (its socket was stopped)')
  t.ok(await eventually(async () => (await stack.api('GET', `/api/sessions/${sessionId}/connection-status`)).body?.data?.connected === true, 30_000, 250), 'and it came back by itself')
  const again = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content: 'after the pause', targetNumbers: '15556660001' })
  t.equal(again.status, 201, JSON.stringify(again.body))

  const logs = await sim.client.connections()
  t.ok(Object.values(logs).every(l => l.maxOpen <= 1), 'never two connections of one device')
})
