import t from 'tap'
import { auth, build, createPublisher, testDatabase } from '../../helper.ts'
import { eventsChannel } from '@wss/shared'

const TOKEN = 'metrics-token-0123456789abcdef'
const bearer = { authorization: `Bearer ${TOKEN}` }

/** The value of one sample line of the exposition text, or undefined when absent. */
function sample (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.split(' ').at(-1))
  }
  return undefined
}

t.test('without METRICS_TOKEN there is no /metrics', async t => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/metrics', headers: bearer })
  t.equal(res.statusCode, 404)
})

t.test('/metrics needs the token, in the envelope when refused', async t => {
  const app = await build(t, { env: { METRICS_TOKEN: TOKEN } })
  for (const headers of [{}, { authorization: 'Bearer wrong-token-0123456789' }, auth]) {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers })
    t.equal(res.statusCode, 401, JSON.stringify(headers))
    t.match(res.json(), { success: false, code: 'UNAUTHORIZED', error: /metrics token/ })
    t.notMatch(res.body, TOKEN, 'the token is never echoed')
  }
  const ok = await app.inject({ method: 'GET', url: '/metrics', headers: bearer })
  t.equal(ok.statusCode, 200)
  t.match(ok.headers['content-type'], /^text\/plain/)
  t.match(ok.body, /^nodejs_eventloop_lag_seconds /m, 'default process metrics')
  const docs = await app.inject({ method: 'GET', url: '/docs/json' })
  t.notOk(Object.keys(docs.json().paths).includes('/metrics'), 'not in the OpenAPI document')
})

t.test('requests are counted by route pattern, rate-limit refusals counted, /metrics never limited', async t => {
  const db = await testDatabase(t)
  const app = await build(t, { db, env: { METRICS_TOKEN: TOKEN, RATE_LIMIT_MAX: '2', RATE_LIMIT_SYNC_MS: '0' } })
  const statuses: number[] = []
  for (const id of ['shop-secret-1', 'shop-secret-2', 'shop-secret-3']) {
    statuses.push((await app.inject({ method: 'GET', url: `/api/sessions/${id}`, headers: auth })).statusCode)
  }
  t.same(statuses, [404, 404, 429], 'the third request is over the limit')
  let text = ''
  for (let i = 0; i < 5; i++) {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: bearer })
    t.equal(res.statusCode, 200, 'scrapes are not rate limited')
    text = res.body
  }
  t.equal(sample(text, 'wss_http_requests_total', { route: '/api/sessions/:sessionId', method: 'GET', status: '404' }), 2)
  t.equal(sample(text, 'wss_http_request_duration_seconds_count', { route: '/api/sessions/:sessionId', status: '404' }), 2)
  t.equal(sample(text, 'wss_rate_limit_rejections_total'), 1)
  t.notMatch(text, 'shop-secret', 'no raw URL or session id in any label')
})

t.test('events relayed and event clients are counted', async t => {
  const app = await build(t, { env: { METRICS_TOKEN: TOKEN } })
  const publisher = await createPublisher(t)
  await publisher.publish(eventsChannel(app.config.REDIS_PREFIX), JSON.stringify({ event: 'statuses-updated', data: { sessionId: 'a' } }))
  let text = ''
  const until = Date.now() + 15_000
  while (Date.now() < until) {
    text = (await app.inject({ method: 'GET', url: '/metrics', headers: bearer })).body
    if (sample(text, 'wss_events_relayed_total', { event: 'statuses-updated' }) === 1) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.equal(sample(text, 'wss_events_relayed_total', { event: 'statuses-updated' }), 1)
  t.equal(sample(text, 'wss_socketio_clients'), 0)
  t.equal(sample(text, 'wss_websocket_clients'), 0)
})
