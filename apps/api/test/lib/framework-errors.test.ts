import { connect } from 'node:net'
import t from 'tap'
import { auth, baseUrl, build } from '../helper.ts'

/** Writes `request` on a raw connection and resolves with everything the server answers before closing. */
function rawExchange (url: string, request: string | string[], ms = 15_000): Promise<string> {
  const { port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1')
    let answer = ''
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer within ${ms} ms: ${answer}`)) }, ms)
    socket.on('data', chunk => { answer += chunk.toString('latin1') })
    socket.on('error', () => undefined)
    socket.on('close', () => { clearTimeout(timer); resolve(answer) })
    for (const chunk of [request].flat()) socket.write(chunk)
  })
}

function parse (raw: string) {
  const [head, body] = raw.split('\r\n\r\n', 2)
  return { status: Number(head!.split(' ')[1]), head: head!, body: JSON.parse(body!) }
}

t.test('a path segment over 100 characters: 414 in the envelope', async t => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: `/api/sessions/${'a'.repeat(120)}`, headers: auth })
  t.equal(res.statusCode, 414)
  t.same(res.json(), { success: false, error: 'A path segment of the URL is longer than 100 characters', code: 'URI_TOO_LONG' })
  t.equal(res.headers['cache-control'], 'no-store')
})

t.test('a URL that is not validly percent-encoded: 400 in the envelope', async t => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/api/sessions/%E0%A4%A', headers: auth })
  t.equal(res.statusCode, 400)
  t.match(res.json(), { success: false, code: 'BAD_REQUEST' })
})

t.test('parser errors before a request exists answer in the envelope', async t => {
  const app = await build(t, { listen: true, env: { REQUEST_TIMEOUT_MS: '1000' } })
  const url = baseUrl(app)

  const huge = parse(await rawExchange(url, `GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`))
  t.equal(huge.status, 431)
  t.same(huge.body, { success: false, error: 'The request headers are too large', code: 'HEADERS_TOO_LARGE' })

  const garbage = parse(await rawExchange(url, 'NOT HTTP AT ALL\r\n\r\n'))
  t.equal(garbage.status, 400)
  t.match(garbage.body, { success: false, code: 'BAD_REQUEST' })

  // A slow upload: the headers and a little of the body, then nothing more.
  const slow = parse(await rawExchange(url, [
    `POST /api/upload-image HTTP/1.1\r\nHost: x\r\nx-api-key: ${auth['x-api-key']}\r\n` +
      'Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n',
    '--x\r\n'
  ]))
  t.equal(slow.status, 408)
  t.same(slow.body, { success: false, error: 'The request was not received in time', code: 'REQUEST_TIMEOUT' })
})
