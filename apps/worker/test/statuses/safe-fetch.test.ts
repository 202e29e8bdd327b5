import t from 'tap'
import { createServer } from 'node:http'
import { isGlobalUnicast } from '@wss/webhooks'
import { safeFetch } from '../../src/statuses/safe-fetch.ts'

t.test('fetches made for users are capped and stay off private networks', async t => {
  const server = createServer((req, res) => {
    if (req.url === '/small') { res.end('hello'); return }
    if (req.url === '/big') { res.writeHead(200, { 'content-length': String(2 * 1024 * 1024) }); res.end(Buffer.alloc(2 * 1024 * 1024)); return }
    if (req.url === '/chunked-big') { res.writeHead(200); for (let i = 0; i < 40; i++) res.write(Buffer.alloc(64 * 1024)); res.end(); return }
    if (req.url === '/slow') return // never answers: only the client's own timeout ends the request
    if (req.url === '/redirect') { res.writeHead(302, { location: '/small' }).end(); return }
    res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  const open = { maxBytes: 1024 * 1024, timeoutMs: 1000, allowPrivate: true }

  await t.rejects(safeFetch(`${base}/small`, { ...open, allowPrivate: false }), /private, loopback or link-local/, 'loopback refused by default')
  await t.rejects(safeFetch('http://169.254.169.254/latest/meta-data', { ...open, allowPrivate: false }), /private, loopback or link-local/, 'link-local (cloud metadata) refused')
  await t.rejects(safeFetch('http://10.1.2.3/x', { ...open, allowPrivate: false }), /private, loopback or link-local/, 'private range refused')
  await t.rejects(safeFetch('ftp://example.org/file', open), /only http\(s\)/)
  t.equal((await safeFetch(`${base}/small`, open)).body.toString(), 'hello', 'allowed when the setting says so')
  t.equal((await safeFetch(`${base}/redirect`, open)).body.toString(), 'hello', 'redirects are followed, and checked again')
  await t.rejects(safeFetch(`${base}/big`, open), /larger than/, 'declared size over the cap')
  await t.rejects(safeFetch(`${base}/chunked-big`, open), /larger than/, 'streamed size over the cap')
  await t.rejects(safeFetch(`${base}/slow`, open), /in time/, 'a server that never answers times out')
  await t.rejects(safeFetch(`${base}/missing`, open), /HTTP 404/)
})

t.test('only global unicast addresses count as public', async t => {
  for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '::ffff:8.8.8.8']) {
    t.ok(isGlobalUnicast(address), `${address} allowed`)
  }
  for (const address of ['127.0.0.1', '10.0.0.1', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '0.1.2.3',
    '192.0.0.1', '198.18.0.1', '224.0.0.1', '255.255.255.255', '::', '::1', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'fec0::1',
    'feff::1', '::7f00:1', '::a00:1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '64:ff9b::a00:1', '64:ff9b:1::1', '2002:7f00:1::1',
    '2001::1', '2001:db8::1', 'ff02::1', '100::1', 'not-an-ip']) {
    t.notOk(isGlobalUnicast(address), `${address} refused`)
  }
})

t.test('IPv6 literals inside the network are refused', async t => {
  const closed = { maxBytes: 1024, timeoutMs: 1000, allowPrivate: false }
  for (const host of ['[::1]', '[fec0::1]', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[64:ff9b:1::1]', '[::7f00:1]', '[fd00::1]']) {
    await t.rejects(safeFetch(`http://${host}/`, closed), /private, loopback or link-local/, `${host} refused`)
  }
})

t.test('a name is checked by every address it resolves to, and every redirect hop is checked', async t => {
  const server = createServer((req, res) => {
    const port = (server.address() as { port: number }).port
    if (req.url === '/ok') { res.end('public'); return }
    if (req.url === '/to-loopback') { res.writeHead(302, { location: `http://[::1]:${port}/ok` }).end(); return }
    if (req.url === '/to-internal-name') { res.writeHead(301, { location: `http://intranet.example:${port}/ok` }).end(); return }
    if (req.url === '/to-mapped') { res.writeHead(307, { location: `http://[::ffff:127.0.0.2]:${port}/ok` }).end(); return }
    res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const port = (server.address() as { port: number }).port
  const dns: Record<string, Array<{ address: string, family: number }>> = {
    'public.example': [{ address: '127.0.0.1', family: 4 }],
    'intranet.example': [{ address: '10.0.0.7', family: 4 }],
    'mixed.example': [{ address: '8.8.8.8', family: 4 }, { address: '192.168.0.10', family: 4 }],
    'v6-internal.example': [{ address: 'fec0::10', family: 6 }]
  }
  const opts = {
    maxBytes: 1024,
    timeoutMs: 2000,
    allowPrivate: false,
    resolve: async (host: string) => dns[host] ?? [],
    // 127.0.0.1 plays the public server; every other address is judged by the real policy.
    isAllowedAddress: (address: string) => address === '127.0.0.1' || isGlobalUnicast(address)
  }
  t.equal((await safeFetch(`http://public.example:${port}/ok`, opts)).body.toString(), 'public', 'connects to the checked address')
  await t.rejects(safeFetch(`http://intranet.example:${port}/ok`, opts), /private, loopback or link-local/, 'a name resolving to a private address')
  await t.rejects(safeFetch(`http://mixed.example:${port}/ok`, opts), /private, loopback or link-local/, 'one private address among public ones')
  await t.rejects(safeFetch(`http://v6-internal.example:${port}/ok`, opts), /private, loopback or link-local/, 'a name resolving to site-local IPv6')
  await t.rejects(safeFetch(`http://public.example:${port}/to-loopback`, opts), /private, loopback or link-local/, 'public to loopback redirect')
  await t.rejects(safeFetch(`http://public.example:${port}/to-internal-name`, opts), /private, loopback or link-local/, 'redirect to a name resolving inside')
  await t.rejects(safeFetch(`http://public.example:${port}/to-mapped`, opts), /private, loopback or link-local/, 'redirect to an IPv4-mapped loopback')
  // The system resolver refuses names resolving to loopback too.
  await t.rejects(safeFetch(`http://localhost:${port}/ok`, { maxBytes: 1024, timeoutMs: 2000, allowPrivate: false }), /private, loopback or link-local/, 'localhost')
})
