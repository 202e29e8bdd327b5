// Issue #10 replayed: a `url` status whose page repeats `<meta name="og:title" ` (~440 KB, never
// closed) froze a worker for hours in its link-preview regexes; its lease lapsed, another worker
// connected the session, and the simulator saw two simultaneous connections of one device. The
// whole stack (API, two worker processes, the simulator) gets that page: the session must stay
// connected and answer quickly throughout, with never two connections of its device.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { eventually, startStack } from '../src/stack.ts'

const hostile = '<html><head>' + '<meta name="og:title" '.repeat(20_000)

t.test('a hostile page posted as a url status freezes nothing and never doubles a connection', async t => {
  const server = createServer((req, res) => req.url === '/photo.png'
    ? res.writeHead(200, { 'content-type': 'image/png' }).end('<html>not a picture</html>')
    : res.writeHead(200, { 'content-type': 'text/html' }).end(hostile))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  const pageUrl = `${base}/menu`

  const stack = await startStack(t, { apis: 1, workers: 2, env: { FETCH_ALLOW_PRIVATE: 'true' } })
  const { sim } = stack
  const me = '15558890000'
  const alice = '15558890001'
  for (const p of [me, alice]) await sim.client.createAccount(p)
  const sessionId = `hostile-${randomUUID().slice(0, 6)}`
  const created = await stack.api('POST', '/api/sessions', { sessionId, sessionName: 'Shop', authMethod: 'pairing', phoneNumber: me })
  t.equal(created.status, 201, JSON.stringify(created.body))
  let code: string | undefined
  await eventually(async () => (code = (await stack.api('GET', `/api/sessions/${sessionId}/pairing-code`)).body?.data?.pairingCode) !== undefined, 20_000)
  t.match(await sim.client.enterPairingCode(me, code!), { linked: true })
  t.ok(await eventually(async () => (await stack.api('GET', `/api/sessions/${sessionId}/connection-status`)).body?.data?.connected === true, 20_000), 'connected')
  const owner = await stack.ownerOf(sessionId)

  // Polled from before the send until well past a lease (5 s in this stack) after it.
  const answers: Array<{ ms: number, status: number, connected: boolean }> = []
  const polling = new AbortController()
  const poller = (async () => {
    while (!polling.signal.aborted) {
      const started = performance.now()
      const r = await stack.api('GET', `/api/sessions/${sessionId}/connection-status`).catch(() => ({ status: 0, body: undefined }))
      answers.push({ ms: performance.now() - started, status: r.status, connected: r.body?.data?.connected === true })
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  })()
  t.teardown(() => polling.abort())

  const sent = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'url', content: pageUrl, targetNumbers: alice })
  t.ok([201, 202].includes(sent.status), JSON.stringify(sent.body))
  let onPhones: any
  t.ok(await eventually(async () => {
    onPhones = (await sim.client.statuses(me)).find(s => s.url === pageUrl)
    return onPhones !== undefined
  }, 60_000), 'the status reached the phones')
  t.notOk(onPhones?.message?.extendedTextMessage?.title, 'as a plain link: the page has no usable title')
  t.ok(await eventually(async () => (await stack.api('GET', `/api/sessions/${sessionId}/statuses/${sent.body.data?.id}`)).body?.data?.state === 'sent', 20_000), 'stored as sent')
  // Past a whole lease after the send, so a worker frozen by it would have lost the session by now.
  await new Promise(resolve => setTimeout(resolve, 8000))
  polling.abort()
  await poller

  t.ok(answers.length >= 20, `polled throughout (${answers.length} answers)`)
  const slow = answers.filter(a => a.ms >= 1000)
  t.same(slow, [], 'every connection-status answer came in under 1 s')
  t.same(answers.filter(a => a.status !== 200 || !a.connected), [], 'connected in every answer')
  const log = await sim.client.deviceConnections(me, 1)
  t.equal(log.maxOpen, 1, 'never two simultaneous connections of the device')
  t.equal(await stack.ownerOf(sessionId), owner, 'the session never moved')
  for (const w of stack.workers) t.equal(w.proc.exitCode, null, `worker ${w.id} still running`)

  // Media whose bytes are not what its Content-Type claims: refused in the envelope, kept as failed.
  const fake = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'image', content: `${base}/photo.png`, targetNumbers: alice })
  t.equal(fake.status, 415, JSON.stringify(fake.body))
  t.match(fake.body, { success: false, code: 'UNSUPPORTED_MEDIA_TYPE', error: /must be JPEG, PNG or WebP; its bytes are an unknown type/ })
  const failed = (await stack.api('GET', `/api/sessions/${sessionId}/statuses?limit=10`)).body.data.find((s: any) => s.content === `${base}/photo.png`)
  t.match(failed, { state: 'failed', error: /its bytes are an unknown type/ })
})
