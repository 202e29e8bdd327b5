import t from 'tap'
import { build } from '../../helper.ts'

/** Every `/api` route of API.md, as the router and the docs spell it. */
const ROUTES: Array<[string, string]> = [
  ['post', '/api/sessions'],
  ['get', '/api/sessions'],
  ['get', '/api/sessions/{sessionId}'],
  ['delete', '/api/sessions/{sessionId}'],
  ['get', '/api/sessions/{sessionId}/connection-status'],
  ['post', '/api/sessions/{sessionId}/restart'],
  ['put', '/api/sessions/{sessionId}/phone-number'],
  ['get', '/api/sessions/{sessionId}/pairing-code'],
  ['post', '/api/sessions/{sessionId}/request-pairing-code'],
  ['post', '/api/sessions/{sessionId}/send-status'],
  ['get', '/api/sessions/{sessionId}/statuses'],
  ['get', '/api/sessions/{sessionId}/statuses/{statusId}'],
  ['get', '/api/sessions/{sessionId}/statuses/{statusId}/viewers'],
  ['get', '/api/sessions/{sessionId}/statuses/{statusId}/analytics'],
  ['get', '/api/sessions/{sessionId}/analytics'],
  ['get', '/api/sessions/{sessionId}/contacts'],
  ['get', '/api/sessions/{sessionId}/viewers'],
  ['delete', '/api/sessions/{sessionId}/statuses/{statusId}'],
  ['patch', '/api/sessions/{sessionId}/statuses/{statusId}'],
  ['post', '/api/sessions/{sessionId}/audiences'],
  ['get', '/api/sessions/{sessionId}/audiences'],
  ['get', '/api/sessions/{sessionId}/audiences/{listId}'],
  ['patch', '/api/sessions/{sessionId}/audiences/{listId}'],
  ['delete', '/api/sessions/{sessionId}/audiences/{listId}'],
  ['post', '/api/statuses'],
  ['post', '/api/upload-image'],
  ['post', '/api/upload-video'],
  ['post', '/api/upload-audio'],
  ['get', '/api/health'],
  ['get', '/api/events'],
  ['post', '/api/keys'],
  ['get', '/api/keys'],
  ['get', '/api/keys/{id}'],
  ['delete', '/api/keys/{id}'],
  ['post', '/api/webhooks'],
  ['get', '/api/webhooks'],
  ['get', '/api/webhooks/{id}'],
  ['patch', '/api/webhooks/{id}'],
  ['delete', '/api/webhooks/{id}'],
  ['post', '/api/webhooks/{id}/rotate-secret'],
  ['post', '/api/webhooks/{id}/test'],
  ['get', '/api/webhooks/{id}/deliveries'],
  ['post', '/api/webhooks/{id}/deliveries/{deliveryId}/redeliver']
]

const concrete = (path: string) => path.replace('{sessionId}', 's1').replace('{statusId}', '00000000-0000-4000-8000-000000000000').replace('{id}', '00000000-0000-4000-8000-000000000001').replace('{deliveryId}', '00000000-0000-4000-8000-000000000002').replace('{listId}', '00000000-0000-4000-8000-000000000003')

t.test('every /api route answers 401 without a key or with a wrong one', async t => {
  const app = await build(t)
  for (const [method, path] of ROUTES) {
    for (const headers of [{}, { 'x-api-key': 'wrong' }, { authorization: 'Bearer wrong' }]) {
      const res = await app.inject({ method: method.toUpperCase() as 'GET', url: concrete(path), headers })
      t.equal(res.statusCode, 401, `${method} ${path} ${JSON.stringify(headers)}`)
      t.equal(res.json().code, 'UNAUTHORIZED')
    }
  }
})

t.test('the OpenAPI document lists every route with its key requirement and error responses', async t => {
  const app = await build(t)
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
  const listed = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, ops]) => Object.keys(ops).map(method => `${method} ${path}`))
    .filter(route => route.includes(' /api'))
  t.same(listed.sort(), ROUTES.map(([m, p]) => `${m} ${p}`).sort(), 'exactly the routes of the contract')
  for (const [method, path] of ROUTES) {
    const op = doc.paths[path][method]
    t.same(op.security, [{ apiKey: [] }, { bearerAuth: [] }], `${method} ${path} needs the key`)
    t.ok(op.responses['401'] && op.responses['429'] && op.responses['500'], `${method} ${path} documents its errors`)
    if (method !== 'get') t.ok(op.responses['403'], `${method} ${path} documents the 403 of read-only keys`)
  }
  const send = doc.paths['/api/sessions/{sessionId}/send-status'].post
  t.ok(send.responses['201'] && send.responses['202'] && send.responses['502'], 'send-status documents 201, 202 and 502')
  t.ok(send.parameters.some((p: { in: string, name: string }) => p.in === 'header' && p.name === 'idempotency-key'))
  const upload = doc.paths['/api/upload-image'].post
  t.match(upload.requestBody.content['multipart/form-data'].schema, { properties: { image: { type: 'string', format: 'binary' } } })
  const audio = doc.paths['/api/upload-audio'].post
  t.match(audio.requestBody.content['multipart/form-data'].schema, { properties: { audio: { type: 'string', format: 'binary', description: /OGG\/Opus, MP3, M4A\/AAC or WAV/ } } })
  t.ok(audio.responses['413'] && audio.responses['415'] && audio.responses['503'], 'upload-audio documents 413, 415 and 503')
  t.match(audio.responses['201'].content['application/json'].schema.properties.data.properties, { seconds: { type: 'integer' }, waveform: { type: 'array' } })
  for (const method of ['get', 'post']) t.ok(doc.paths['/api/keys'][method].responses['403'], `${method} /api/keys documents 403`)
  const list = doc.paths['/api/sessions'].get
  t.ok(list.parameters.some((p: { name: string }) => p.name === 'cursor'), 'lists take a cursor')
})
