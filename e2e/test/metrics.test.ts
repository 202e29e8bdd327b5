// Prometheus metrics after a real flow: an API node and a worker pool (two processes, aggregated
// by the pool over IPC) linked through the simulator, one status sent and viewed. Every metric the
// operations docs name is served, with the values the flow produced, and passes promtool's lint.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createOwnerRegistry, createRedisConnection } from '@wss/shared'
import { socketIoClient, wsClient } from '../src/events.ts'
import { eventually, freePort, startStack } from '../src/stack.ts'

const TOKEN = `metrics-${randomUUID()}`
const rules = new URL('../../deploy/prometheus/', import.meta.url).pathname
const dashboard = readFileSync(new URL('../../deploy/grafana/dashboard.json', import.meta.url), 'utf8')
const alerts = readFileSync(new URL('alerts.yml', `file://${rules}`), 'utf8')
/** Every metric name a dashboard query or an alert reads (histograms by their series names). */
const namesIn = (text: string) => new Set([...text.matchAll(/\b((?:wss|nodejs|process)_[a-z0-9_]+)/g)].map(m => m[1]!))

/** The value of the first sample of `name` carrying every given label, or undefined. */
function sample (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return undefined
}

function promtool (args: string[], input?: string) {
  const run = spawnSync('promtool', args, { input, encoding: 'utf8', cwd: rules })
  if (run.error) throw new Error(`promtool is needed (Debian package prometheus; scripts/run-tests.mjs installs it): ${run.error.message}`)
  return { code: run.status, output: `${run.stdout}${run.stderr}` }
}

// prom-client's own default gauges break one naming rule; kept under their usual names (the
// community Node.js dashboards read them). Any other finding fails the test.
const UPSTREAM_LINT = /^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/

/** promtool's findings on an exposition text, minus prom-client's known ones. */
function lint (text: string): string[] {
  const run = promtool(['check', 'metrics'], text)
  const lines = run.output.split('\n').map(l => l.trim()).filter(l => l !== '')
  if (run.code !== 0 && lines.length === 0) return [`promtool exited with ${run.code}`]
  return lines.filter(l => !UPSTREAM_LINT.test(l))
}

async function scrape (url: string, token = TOKEN) {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
  return { status: res.status, text: await res.text() }
}

t.test('the alert rules are valid and their unit tests pass', async t => {
  const check = promtool(['check', 'rules', 'alerts.yml'])
  t.equal(check.code, 0, check.output)
  const test = promtool(['test', 'rules', 'alerts.test.yml'])
  t.equal(test.code, 0, test.output)
  const config = promtool(['check', 'config', '--syntax-only', 'prometheus.yml'])
  t.equal(config.code, 0, config.output)
})

t.test('after linking, sending and a view, the API and the worker pool report it', async t => {
  const stack = await startStack(t, { apis: 1, workers: 0, env: { METRICS_TOKEN: TOKEN } })
  const metricsPort = await freePort()
  const pool = await stack.addWorkerPool(2, { METRICS_PORT: String(metricsPort) })
  const poolUrl = `http://127.0.0.1:${metricsPort}/metrics`
  const apiUrl = `${stack.apis[0]!.url}/metrics`
  const { sim } = stack
  const me = '15557770000'
  const alice = '15557770001'
  for (const p of [me, alice]) await sim.client.createAccount(p)
  const sio = await socketIoClient(t, stack.apis[0]!.url, stack.apiKey)
  await wsClient(t, stack.apis[0]!.url, stack.apiKey)
  const sessionId = `metrics-${randomUUID().slice(0, 6)}`

  const created = await stack.api('POST', '/api/sessions', { sessionId, sessionName: 'Metrics', authMethod: 'pairing', phoneNumber: me })
  t.equal(created.status, 201, JSON.stringify(created.body))
  let code: string | undefined
  await eventually(async () => { code = (await stack.api('GET', `/api/sessions/${sessionId}/pairing-code`)).body?.data?.pairingCode; return !!code }, 20_000)
  await sim.client.enterPairingCode(me, code!)
  await sio.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected === true)

  const sent = await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content: 'metrics', targetNumbers: alice })
  t.equal(sent.status, 201, JSON.stringify(sent.body))
  let onPhone: any
  await eventually(async () => { onPhone = (await sim.client.statuses(me)).find(s => s.text === 'metrics'); return !!onPhone })
  await sim.client.viewStatus(me, onPhone.id, { viewers: [alice] })
  await sio.waitFor(e => e.event === 'status-viewers-update' && e.data.statusId === sent.body.data.id)

  // WhatsApp refuses one status (an error ack).
  await sim.client.failNextMessages(me, '479')
  t.equal((await stack.api('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content: 'refused', targetNumbers: alice })).status, 502)

  // The viewer batch is counted once written; relayed events once they reached the node.
  let worker = ''
  let api = ''
  await eventually(async () => {
    worker = (await scrape(poolUrl)).text
    api = (await scrape(apiUrl)).text
    return sample(worker, 'wss_view_receipts_total') === 1 && sample(api, 'wss_events_relayed_total', { event: 'status-viewers-update' }) === 1
  }, 20_000, 250)

  t.test('worker pool', async t => {
    t.equal((await scrape(poolUrl, 'not-the-token-0123456789')).status, 401, 'the token is needed')
    t.equal(sample(worker, 'wss_pool_processes'), 2)
    t.equal(sample(worker, 'wss_sessions', { state: 'connected' }), 1, 'summed over the processes')
    t.equal(sample(worker, 'wss_pairing_attempts_total', { method: 'pairing' }), 1)
    t.equal(sample(worker, 'wss_session_connects_total'), 1)
    t.equal(sample(worker, 'wss_session_disconnects_total', { reason: 'restartRequired' }), 1, 'the 515 after pairing')
    t.equal(sample(worker, 'wss_session_reconnects_total'), 0)
    t.equal(sample(worker, 'wss_statuses_sent_total', { type: 'text', outcome: 'sent' }), 1)
    t.equal(sample(worker, 'wss_statuses_sent_total', { type: 'text', outcome: 'refused' }), 1)
    t.equal(sample(worker, 'wss_status_ack_seconds_count', { type: 'text' }), 1)
    t.equal(sample(worker, 'wss_view_receipts_total'), 1)
    t.ok(sample(worker, 'wss_viewer_flush_seconds_count')! >= 1, 'viewer batch flushes timed')
    t.ok(sample(worker, 'wss_lease_renewals_total', { result: 'ok' })! > 0, 'lease renewals')
    t.equal(sample(worker, 'wss_lease_takeovers_total'), 0)
    t.equal(sample(worker, 'wss_lease_self_fencings_total'), 0)
    t.ok(sample(worker, 'wss_signal_key_cache_lookups_total', { result: 'hit' })! > 0, 'key cache hits')
    t.ok(sample(worker, 'wss_signal_key_cache_lookups_total', { result: 'miss' })! > 0, 'key cache misses')
    for (const id of pool.ids) {
      t.equal(sample(worker, 'wss_command_queue_jobs', { worker: id }), 0, `queue of ${id}`)
      t.equal(sample(worker, 'wss_command_queue_oldest_job_age_seconds', { worker: id }), 0)
    }
    t.ok(sample(worker, 'nodejs_eventloop_lag_seconds')! >= 0, 'event-loop lag')
    t.ok(sample(worker, 'process_resident_memory_bytes')! > 0, 'process metrics')
    t.notMatch(worker, sessionId, 'no session id in a label')
    t.notMatch(worker, me, 'no phone number in a label')
    t.same(lint(worker), [], 'promtool check metrics')
  })

  t.test('the dashboard and the alerts read only metrics that exist', async t => {
    const served = `${worker}\n${api}`
    for (const name of new Set([...namesIn(dashboard), ...namesIn(alerts)])) t.match(served, new RegExp(`^${name}[{ ]`, 'm'), name)
  })

  t.test('API node', async t => {
    t.equal((await scrape(apiUrl, 'not-the-token-0123456789')).status, 401, 'the token is needed')
    const send = { route: '/api/sessions/:sessionId/send-status', method: 'POST', status: '201' }
    t.equal(sample(api, 'wss_http_requests_total', send), 1)
    t.equal(sample(api, 'wss_http_request_duration_seconds_count', send), 1)
    t.equal(sample(api, 'wss_http_requests_total', { route: '/api/sessions', method: 'POST', status: '201' }), 1)
    t.equal(sample(api, 'wss_http_requests_total', { route: '/api/sessions/:sessionId/send-status', method: 'POST', status: '502' }), 1)
    t.equal(sample(api, 'wss_rate_limit_rejections_total'), 0)
    t.equal(sample(api, 'wss_events_relayed_total', { event: 'status-sent' }), 1)
    t.equal(sample(api, 'wss_events_relayed_total', { event: 'status-viewers-update' }), 1)
    t.equal(sample(api, 'wss_socketio_clients'), 1)
    t.equal(sample(api, 'wss_websocket_clients'), 1)
    t.ok(sample(api, 'nodejs_eventloop_lag_seconds')! >= 0, 'event-loop lag')
    t.notMatch(api, sessionId, 'no session id in a label')
    t.notMatch(api, me, 'no phone number in a label')
    t.same(lint(api), [], 'promtool check metrics')
  })

  // Last, as it changes what the pool reports: the process running the session dies.
  t.test('a worker of the pool dies: restarted, its session moved, both counted', async t => {
    const redis = createRedisConnection(stack.redisUrl)
    t.teardown(() => redis.disconnect())
    const owner = await stack.ownerOf(sessionId)
    const pid = Number((await createOwnerRegistry(redis, stack.prefix).liveWorkers()).find(w => w.id === owner)?.info.pid)
    process.kill(pid, 'SIGKILL')
    let text = ''
    const moved = await eventually(async () => {
      const cs = await stack.api('GET', `/api/sessions/${sessionId}/connection-status`)
      if (cs.body?.data?.connected !== true) return false
      text = (await scrape(poolUrl)).text
      return sample(text, 'wss_pool_restarts_total') === 1 && sample(text, 'wss_pool_processes') === 2 && sample(text, 'wss_sessions', { state: 'connected' }) === 1
    }, 60_000, 500)
    t.ok(moved, 'the session is connected again and the pool runs two processes')
    t.equal(sample(text, 'wss_pool_restarts_total'), 1)
    t.ok(sample(text, 'wss_lease_takeovers_total')! >= 1, 'the move is counted')
  })
})
