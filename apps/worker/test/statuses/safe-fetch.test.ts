import t from 'tap'
import { createServer } from 'node:http'
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

  await t.rejects(safeFetch(`${base}/small`, { ...open, allowPrivate: false }), /private or local/, 'loopback refused by default')
  await t.rejects(safeFetch('http://169.254.169.254/latest/meta-data', { ...open, allowPrivate: false }), /private or local/, 'link-local (cloud metadata) refused')
  await t.rejects(safeFetch('http://10.1.2.3/x', { ...open, allowPrivate: false }), /private or local/, 'private range refused')
  await t.rejects(safeFetch('ftp://example.org/file', open), /only http\(s\)/)
  t.equal((await safeFetch(`${base}/small`, open)).body.toString(), 'hello', 'allowed when the setting says so')
  t.equal((await safeFetch(`${base}/redirect`, open)).body.toString(), 'hello', 'redirects are followed, and checked again')
  await t.rejects(safeFetch(`${base}/big`, open), /larger than/, 'declared size over the cap')
  await t.rejects(safeFetch(`${base}/chunked-big`, open), /larger than/, 'streamed size over the cap')
  await t.rejects(safeFetch(`${base}/slow`, open), /in time/, 'a server that never answers times out')
  await t.rejects(safeFetch(`${base}/missing`, open), /HTTP 404/)
})
