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
