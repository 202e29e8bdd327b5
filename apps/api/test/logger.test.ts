import t from 'tap'
import { PassThrough } from 'node:stream'
import { build, KEY, ROTATED_KEY } from './helper.ts'

t.test('request logs never carry an API key', async t => {
  const stream = new PassThrough()
  let output = ''
  stream.on('data', chunk => { output += chunk.toString() })
  const app = await build(t, {
    env: { LOG_LEVEL: 'trace' },
    logStream: stream,
    extend: fastify => {
      // A route that logs the headers, as a careless handler might.
      fastify.get('/test/log-headers', async request => {
        request.log.info({ headers: request.headers }, 'headers')
        return { ok: true }
      })
    }
  })
  await app.inject({ method: 'GET', url: '/api/events?apiKey=' + KEY })
  await app.inject({ method: 'GET', url: '/api/nothing', headers: { authorization: `Bearer ${ROTATED_KEY}` } })
  await app.inject({ method: 'GET', url: '/test/log-headers', headers: { 'x-api-key': KEY, authorization: `Bearer ${ROTATED_KEY}`, cookie: 'sid=abc' } })

  t.match(output, /"url":"\/api\/events\?apiKey=\[REDACTED\]"/, 'the query key is masked')
  t.match(output, /"x-api-key":"\[REDACTED\]"/, 'logged headers are redacted')
  t.notMatch(output, new RegExp(KEY), 'primary key absent')
  t.notMatch(output, new RegExp(ROTATED_KEY), 'rotated key absent')
  t.notMatch(output, /sid=abc/, 'cookie absent')
})

t.test('the query key is masked in whatever encoding the query parser accepts', async t => {
  const stream = new PassThrough()
  let output = ''
  stream.on('data', chunk => { output += chunk.toString() })
  const app = await build(t, { env: { LOG_LEVEL: 'info' }, logStream: stream })
  const encoded = [...KEY].map(c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join('')
  const urls = [
    `/api/events?%61piKey=${KEY}`,
    `/api/events?api%4Bey=${KEY}&sessionId=a`,
    `/api/events?apiKey=${encoded}`,
    `/api/events#apiKey=${KEY}`,
    `/api/events?sessionId=a#&apiKey=${KEY}`,
    `/api/events?%2561piKey=${KEY}`,
    `/api/events?APIKEY=${KEY}`
  ]
  for (const url of urls) await app.inject({ method: 'GET', url })
  // The first requests authenticated: the parser read the key (426: a plain GET on the WebSocket route).
  const accepted = await app.inject({ method: 'GET', url: urls[0]! })
  t.equal(accepted.statusCode, 426, 'an encoded name still authenticates')
  const lines = output.trim().split('\n').filter(line => line.includes('request completed'))
  t.equal(lines.length, urls.length + 1, 'each request is logged')
  for (const form of [KEY, encoded, encoded.toLowerCase(), encodeURIComponent(KEY)]) {
    t.notOk(output.includes(form), `the key is absent as ${form.slice(0, 12)}…`)
  }
  t.match(output, /"url":"\/api\/events\?%61piKey=\[REDACTED\]"/)
})
