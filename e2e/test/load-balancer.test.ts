// Two API nodes behind nginx (Debian's, run with deploy/nginx/nginx.conf — the file docker-compose
// uses — with this test's addresses): REST is spread round-robin over both nodes; a Socket.IO client
// with its default transports (long-polling, then the upgrade) connects through the sticky path and
// gets every event; so does the plain WebSocket; the per-IP rate limit counts the client's address,
// not the proxy's, and a client cannot reset its count with its own X-Forwarded-For (counted exactly: RATE_LIMIT_SYNC_MS=0).
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { socketIoClient, wsClient, type Seen } from '../src/events.ts'
import { eventually, freePort, startStack } from '../src/stack.ts'

const nginx = '/usr/sbin/nginx'
const root = new URL('../../', import.meta.url).pathname
const skip = existsSync(nginx) ? false : 'nginx is not installed (scripts/ensure-packages.sh nginx installs it)'

/** Runs nginx with the project's config, pointed at these API nodes, listening on host:port. */
async function startNginx (t: { equal: (a: unknown, b: unknown, m: string) => void, teardown: (fn: () => unknown) => void }, upstreams: string[], host: string, port: number) {
  const dir = mkdtempSync(join(tmpdir(), 'wss-nginx-'))
  const servers = upstreams.map(u => `server ${new URL(u).host};`).join(' ')
  const config = readFileSync(join(root, 'deploy/nginx/nginx.conf'), 'utf8')
    .replaceAll(/server api:3000; # servers/g, servers)
    .replace(/listen 8080; # listen/, `listen ${host}:${port};`)
  t.equal(config.match(/server 127\.0\.0\.1:\d+;/g)?.length, upstreams.length * 2, 'both upstreams point at the test\'s API nodes')
  writeFileSync(join(dir, 'nginx.conf'), config)
  const proc = spawn(nginx, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr!.on('data', (d: Buffer) => { stderr += d })
  t.teardown(() => { proc.kill('SIGTERM') })
  const up = await eventually(async () => { try { await fetch(`http://${host}:${port}/healthz`); return true } catch { return false } }, 15_000, 100)
  if (!up) throw new Error(`nginx did not start: ${stderr}`)
  return `http://${host}:${port}`
}

/** A GET through the proxy from a given local address (the "client's address"), with extra headers. */
function getFrom (url: string, localAddress: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, headers }, res => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)) })
    req.on('error', reject)
    req.end()
  })
}

const forSession = (seen: Seen[], sessionId: string) => seen.filter(e => e.data?.sessionId === sessionId).map(e => e.event)

t.test('two API nodes behind nginx', { skip }, async t => {
  const limit = 150
  const stack = await startStack(t, { apis: 2, workers: 1, env: { TRUST_PROXY: '1', RATE_LIMIT_MAX: String(limit), RATE_LIMIT_WINDOW_MS: '600000', RATE_LIMIT_SYNC_MS: '0' } })
  const proxy = await startNginx(t, stack.apis.map(a => a.url), '127.0.0.2', await freePort())
  const viaProxy = (method: string, path: string, body?: unknown) => fetch(proxy + path, {
    method,
    headers: { 'x-api-key': stack.apiKey, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined
  }).then(async r => ({ status: r.status, body: await r.json() as any }))

  // REST goes to both nodes.
  for (let i = 0; i < 8; i++) t.equal((await viaProxy('GET', '/api/sessions?limit=7')).status, 200)
  const perNode = () => readdirSync(stack.logDir).filter(f => f.startsWith('api-')).map(f => readFileSync(join(stack.logDir, f), 'utf8').split('"url":"/api/sessions?limit=7"').length - 1)
  await eventually(() => perNode().reduce((a, b) => a + b) === 8, 10_000)
  t.same(perNode(), [4, 4], 'round-robin spread the requests over both nodes')

  // Socket.IO with its default transports, and the plain WebSocket, through the proxy.
  const sio = await socketIoClient(t, proxy, stack.apiKey, undefined, { defaultTransports: true })
  const ws = await wsClient(t, proxy, stack.apiKey)
  const direct = await wsClient(t, stack.apis[1]!.url, stack.apiKey)
  t.ok(await eventually(() => sio.socket.io.engine.transport.name === 'websocket', 10_000), 'Socket.IO upgraded from polling to WebSocket through the proxy')

  const me = '15556660000'
  const alice = '15556660001'
  for (const p of [me, alice]) await stack.sim.client.createAccount(p)
  const sessionId = 'behind-proxy'
  t.equal((await viaProxy('POST', '/api/sessions', { sessionId, sessionName: 'LB', authMethod: 'pairing', phoneNumber: me })).status, 201)
  const paired = await sio.waitFor(e => e.event === 'pairing-code' && e.data.sessionId === sessionId)
  await stack.sim.client.enterPairingCode(me, paired.data.pairingCode)
  await sio.waitFor(e => e.event === 'connection-status' && e.data.sessionId === sessionId && e.data.connected === true)
  const sent = await viaProxy('POST', `/api/sessions/${sessionId}/send-status`, { type: 'text', content: 'through nginx', targetNumbers: [alice] })
  t.equal(sent.status, 201, JSON.stringify(sent.body))
  for (const client of [sio, ws, direct]) await client.waitFor(e => e.event === 'status-sent' && e.data.id === sent.body.data.id)
  const reference = forSession(direct.seen, sessionId)
  t.ok(reference.includes('pairing-code') && reference.includes('connection-status'), `events of the session: ${reference.join(', ')}`)
  t.same(forSession(sio.seen, sessionId), reference, 'the Socket.IO client behind the proxy got every event, once, in order')
  t.same(forSession(ws.seen, sessionId), reference, 'so did the WebSocket client behind the proxy')

  // The rate limit counts the client's address as nginx saw it: a client's own X-Forwarded-For
  // (different on every request) does not give it fresh counts, and another client is unaffected.
  let first429 = 0
  for (let i = 1; i <= limit + 1 && !first429; i++) {
    const status = await getFrom(`${proxy}/api/sessions`, '127.0.0.3', { 'x-api-key': stack.apiKey, 'x-forwarded-for': `198.51.100.${i % 250}` })
    if (status === 429) first429 = i
  }
  t.equal(first429, limit + 1, 'client 127.0.0.3 is limited after RATE_LIMIT_MAX requests whatever it forwards')
  t.equal(await getFrom(`${proxy}/api/sessions`, '127.0.0.4', { 'x-api-key': stack.apiKey }), 200, 'client 127.0.0.4 has its own count')
})
