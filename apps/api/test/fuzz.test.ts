// Every operation of the OpenAPI document (`/docs/json`), driven with malformed, oversized and
// hostile values by fast-check (a fixed seed, so a failure replays): path parameters, query
// strings, headers and bodies of every kind and shape. What a client may never see: a 5xx other
// than 502/503/504 (a dependency or a worker), an `/api` answer outside the JSON envelope, or a
// server that stops answering. The app runs on a real migrated database and Redis, with sessions,
// a status and an upload in place so that requests reach the code behind validation too.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { KEY, build, testDatabase } from './helper.ts'

const SEED = 20261201
const RUNS = 3000

interface Operation { method: string, path: string, params: string[], query: string[], body: boolean }

/** The operations of the OpenAPI document, with their path and query parameter names. */
function operations (doc: any): Operation[] {
  const ops: Operation[] = []
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue
      const parameters: any[] = op.parameters ?? []
      ops.push({
        method: method.toUpperCase(),
        path,
        params: parameters.filter(p => p.in === 'path').map(p => p.name),
        query: parameters.filter(p => p.in === 'query').map(p => p.name),
        body: op.requestBody !== undefined
      })
    }
  }
  return ops
}

// Values an attacker would try: long, empty, control characters, traversal, injection, odd Unicode.
const hostileString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.fullUnicodeString({ maxLength: 40 }),
  fc.constantFrom('', ' ', '..', '../../etc/passwd', '%00', '\u0000', "' OR 1=1 --", '$' + '{7*7}', '<script>', '__proto__', 'constructor',
    'NaN', '-1', '1e309', '9'.repeat(40), '\uD800', '\u202E', 'a'.repeat(101), 'x'.repeat(5000), '*', 'acme-*', 'null', 'true'),
  fc.nat().map(String)
)
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
  fc.array(hostileString, { maxLength: 6 }),
  fc.dictionary(hostileString, hostileString, { maxKeys: 4 }),
  fc.constant('9'.repeat(12) + ','.repeat(3000)),
  fc.array(fc.constant('15550001111'), { minLength: 5001, maxLength: 5002 })
)
// Bodies: anything JSON, objects with the product's field names but wrong or hostile values, raw junk.
const fieldNames = ['sessionId', 'sessionName', 'authMethod', 'phoneNumber', 'type', 'content', 'caption', 'targetNumbers',
  'backgroundColor', 'font', 'name', 'scope', 'sessions', 'access', 'statusId', 'limit', 'cursor', 'audience', 'sessionIds', 'numbers', '__proto__']
const body = fc.oneof(
  fc.jsonValue().map(v => ({ json: v })),
  fc.dictionary(fc.constantFrom(...fieldNames), hostileValue, { maxKeys: 8 }).map(v => ({ json: v })),
  fc.record({ type: fc.constantFrom('text', 'image', 'video', 'url', 'audio', 'x'), content: hostileString, targetNumbers: hostileValue }, { requiredKeys: [] }).map(v => ({ json: v })),
  fc.string({ maxLength: 200 }).map(raw => ({ raw, type: 'application/json' })),
  fc.string({ maxLength: 200 }).map(raw => ({ raw, type: fc.sample(fc.constantFrom('text/plain', 'multipart/form-data', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', ''), 1)[0]! })),
  fc.constant({ raw: '{"a":' + '['.repeat(5000), type: 'application/json' }),
  fc.constant(undefined)
)
const headers = fc.record({
  'idempotency-key': hostileString,
  'x-forwarded-for': hostileString,
  'x-api-key': fc.oneof({ weight: 9, arbitrary: fc.constant(KEY) }, { weight: 1, arbitrary: fc.constantFrom('', 'wss_' + 'A'.repeat(43), KEY + ' ', KEY.slice(1)) })
}, { requiredKeys: [] })

/** Percent-encodes every byte (lone surrogates included, which encodeURIComponent refuses). */
const encode = (value: string) => [...Buffer.from(value)].map(b => `%${b.toString(16).padStart(2, '0')}`).join('')

function fill (op: Operation, params: string[], queryValues: unknown[]): string {
  let i = 0
  const path = op.path.replace(/\{(\w+)\}/g, () => encode(params[i++ % params.length]!))
  const query = op.query.map((name, j) => `${name}=${encode(String(queryValues[j % Math.max(queryValues.length, 1)] ?? ''))}`)
  return query.length > 0 && queryValues.length > 0 ? `${path}?${query.join('&')}` : path
}

t.test(`${RUNS} hostile requests over every operation of /docs/json`, async t => {
  const db = await testDatabase(t)
  const app: FastifyInstance = await build(t, { db, env: { RATE_LIMIT_MAX: '1000000', SEND_TIMEOUT_MS: '200', START_WAIT_MS: '0' } })
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
  const ops = operations(doc)
  t.ok(ops.length >= 15, `${ops.length} operations in the OpenAPI document`)

  // Something behind the ids, so requests get past "not found" now and then.
  await db.prisma.session.create({ data: { id: 'fuzz', name: 'Fuzz', authMethod: 'qrcode' } })
  const status = await db.prisma.status.create({ data: { id: randomUUID(), sessionId: 'fuzz', type: 'text', content: 'hi', targetNumbers: ['15550001111'], state: 'sent' } })
  const knownIds = ['fuzz', status.id]

  const seen = new Map<string, number>()
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(...ops),
    fc.array(fc.oneof(hostileString, fc.constantFrom(...knownIds)), { minLength: 1, maxLength: 3 }),
    fc.array(hostileValue, { maxLength: 4 }),
    body,
    headers,
    async (op, params, queryValues, payload, extraHeaders) => {
      const url = fill(op, params, queryValues)
      const res = await app.inject({
        method: op.method as 'GET',
        url,
        headers: { 'x-api-key': KEY, ...extraHeaders, ...(payload && 'raw' in payload && payload.type ? { 'content-type': payload.type } : {}) },
        ...(payload === undefined || op.method === 'GET' ? {} : 'json' in payload ? { payload: payload.json as object } : { payload: payload.raw })
      })
      seen.set(`${res.statusCode}`, (seen.get(`${res.statusCode}`) ?? 0) + 1)
      const where = `${op.method} ${url.slice(0, 200)} → ${res.statusCode} ${res.body.slice(0, 300)}`
      if (res.statusCode >= 500 && ![502, 503, 504].includes(res.statusCode)) throw new Error(`server error: ${where}`)
      if (op.path.startsWith('/api/')) {
        let envelope: any
        try { envelope = res.json() } catch { throw new Error(`not JSON: ${where}`) }
        const ok = typeof envelope === 'object' && envelope !== null && typeof envelope.success === 'boolean' &&
          (envelope.success ? 'data' in envelope : typeof envelope.error === 'string' && typeof envelope.code === 'string')
        if (!ok) throw new Error(`not the envelope: ${where}`)
      }
    }
  ), { seed: SEED, numRuns: RUNS, endOnFailure: true })

  t.pass(`answers: ${[...seen].sort().map(([code, n]) => `${code}×${n}`).join(', ')}`)
  t.ok([...seen.keys()].some(code => code.startsWith('2')), 'some requests got through validation')
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'the server is alive at the end')
  t.equal((await app.inject({ method: 'GET', url: '/api/sessions', headers: { 'x-api-key': KEY } })).statusCode, 200, 'and still serves its data')
})
