import t from 'tap'
import { randomUUID } from 'node:crypto'
import { socketIoClient, wsClient } from '../src/events.ts'
import { startStack } from '../src/stack.ts'

t.test('two clients with scoped keys share a deployment and see only their own sessions', async t => {
  const stack = await startStack(t, { apis: 1, workers: 1 })
  const url = stack.apis[0]!.url
  const tag = randomUUID().slice(0, 6)
  const key = async (prefix: string) => {
    const res = await stack.api('POST', '/api/keys', { name: prefix, scope: { sessions: [`${prefix}-${tag}-*`], access: 'write' } })
    t.equal(res.status, 201, JSON.stringify(res.body))
    return res.body.data.key as string
  }
  const [acme, globex] = [await key('acme'), await key('globex')]
  const as = (k: string) => ({ headers: { 'x-api-key': k } })
  const acmeEvents = await socketIoClient(t, url, acme)
  const globexEvents = await socketIoClient(t, url, globex)
  const globexWs = await wsClient(t, url, globex)

  // A QR session linking through the real worker raises qr-code events for it.
  const acmeSession = `acme-${tag}-1`
  const created = await stack.api('POST', '/api/sessions', { sessionId: acmeSession, sessionName: 'Acme', authMethod: 'qrcode' }, as(acme))
  t.equal(created.status, 201, created.status === 201 ? 'acme creates its session' : JSON.stringify(created.body))
  await acmeEvents.waitFor(e => e.event === 'qr-code' && e.data.sessionId === acmeSession)
  t.equal((await stack.api('POST', '/api/sessions', { sessionId: `acme-${tag}-2`, sessionName: 'x', authMethod: 'qrcode' }, as(globex))).status, 403,
    'globex may not create a session in acme\'s range')

  // Globex's own session: once its events arrive, any earlier event of acme's would have too.
  const globexSession = `globex-${tag}-1`
  t.equal((await stack.api('POST', '/api/sessions', { sessionId: globexSession, sessionName: 'Globex', authMethod: 'qrcode' }, as(globex))).status, 201)
  await globexEvents.waitFor(e => e.event === 'qr-code' && e.data.sessionId === globexSession)
  await globexWs.waitFor(e => e.event === 'qr-code' && e.data.sessionId === globexSession)
  for (const seen of [globexEvents.seen, globexWs.seen]) {
    t.same(seen.filter(e => e.data?.sessionId !== globexSession), [], 'no event of another session reached globex')
  }

  const qr = await stack.api('GET', `/api/sessions/${acmeSession}/connection-status`, undefined, as(globex))
  t.equal(qr.status, 404, 'acme\'s QR code is not globex\'s to read')
  const list = await stack.api('GET', '/api/sessions', undefined, as(globex))
  t.same(list.body.data.map((s: { sessionId: string }) => s.sessionId), [globexSession])
  t.equal((await stack.api('DELETE', `/api/sessions/${acmeSession}`, undefined, as(globex))).status, 404, 'nor to delete')
  t.equal((await stack.api('DELETE', `/api/sessions/${acmeSession}`, undefined, as(acme))).status, 200)
  t.equal((await stack.api('DELETE', `/api/sessions/${globexSession}`, undefined, as(globex))).status, 200)
})
