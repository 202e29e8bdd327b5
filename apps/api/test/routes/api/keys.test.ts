import t from 'tap'
import { redisKeys } from '@wss/shared'
import { auth, build, testDatabase, uniquePrefix } from '../../helper.ts'
import { createKey, withKey } from '../../key-helper.ts'

const db = await testDatabase(t)
const { prisma } = db

t.test('POST /api/keys shows the key once; lists and reads never show it or its hash', async t => {
  const app = await build(t, { db })
  const res = await app.inject({
    method: 'POST',
    url: '/api/keys',
    headers: auth,
    payload: { name: 'acme dashboard', scope: { sessions: ['acme-*', 'shared-1'], access: 'read' } }
  })
  t.equal(res.statusCode, 201)
  const created = res.json().data
  t.match(created, { name: 'acme dashboard', scope: { sessions: ['acme-*', 'shared-1'], access: 'read' }, createdAt: String })
  t.match(created.key, /^wss_[A-Za-z0-9_-]{43}$/)
  const row = await prisma.apiKey.findUniqueOrThrow({ where: { id: created.id } })
  t.not(row.keyHash, created.key, 'only a hash is stored')
  t.notOk(JSON.stringify(row).includes(created.key.slice(4)), 'no part of the key is stored')

  const one = await app.inject({ method: 'GET', url: `/api/keys/${created.id}`, headers: auth })
  t.equal(one.statusCode, 200)
  t.same(one.json().data, { id: created.id, name: 'acme dashboard', scope: { sessions: ['acme-*', 'shared-1'], access: 'read' }, createdAt: created.createdAt })
  const list = await app.inject({ method: 'GET', url: '/api/keys', headers: auth })
  t.ok(list.json().data.some((k: { id: string }) => k.id === created.id))
  for (const body of [one.body, list.body]) {
    t.notOk(body.includes(created.key), 'never the key')
    t.notOk(body.includes(row.keyHash), 'never the hash')
  }
  t.equal((await app.inject({ method: 'GET', url: '/api/sessions', headers: withKey(created.key) })).statusCode, 200, 'the key works')
})

t.test('POST /api/keys: bad input is a 400 naming the field', async t => {
  const app = await build(t, { db })
  const cases: Array<[unknown, string]> = [
    [{ scope: { sessions: 'all', access: 'read' } }, 'body.name'],
    [{ name: 'x', scope: { sessions: 'all', access: 'admin' } }, 'body.scope.access'],
    [{ name: 'x', scope: { sessions: [], access: 'read' } }, 'body.scope.sessions'],
    [{ name: 'x', scope: { sessions: ['a*b'], access: 'read' } }, 'body.scope.sessions'],
    [{ name: 'x', scope: { sessions: ['*'], access: 'read' } }, 'body.scope.sessions'],
    [{ name: 'x', scope: { sessions: 'everything', access: 'read' } }, 'body.scope.sessions']
  ]
  for (const [payload, field] of cases) {
    const res = await app.inject({ method: 'POST', url: '/api/keys', headers: auth, payload: payload as object })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.match(res.json(), { success: false, code: 'VALIDATION' })
    t.match(res.json().error, field, JSON.stringify(payload))
  }
})

t.test('"*" is accepted for "all", as the contract spells it', async t => {
  const app = await build(t, { db })
  const res = await app.inject({ method: 'POST', url: '/api/keys', headers: auth, payload: { name: 'star', scope: { sessions: '*', access: 'read' } } })
  t.equal(res.statusCode, 201)
  t.same(res.json().data.scope, { sessions: 'all', access: 'read' })
  const named = await app.inject({ method: 'POST', url: '/api/keys', headers: auth, payload: { name: 'one', scope: { sessions: ['all'], access: 'read' } } })
  t.same(named.json().data.scope, { sessions: ['all'], access: 'read' }, '["all"] is the session named "all", not every session')
})

t.test('GET /api/keys pages like the other lists', async t => {
  const app = await build(t, { db })
  const ids = new Set<string>()
  for (let i = 0; i < 3; i++) ids.add((await createKey(app, { sessions: 'all', access: 'read' }, `page ${i}`)).id)
  const seen: string[] = []
  let cursor: string | null | undefined
  do {
    const url = `/api/keys?limit=2${cursor === undefined || cursor === null ? '' : `&cursor=${cursor}`}`
    const res = await app.inject({ method: 'GET', url, headers: auth })
    t.equal(res.statusCode, 200)
    const body = res.json()
    t.ok(body.data.length <= 2)
    seen.push(...body.data.map((k: { id: string }) => k.id))
    cursor = body.nextCursor
  } while (cursor !== null)
  t.equal(new Set(seen).size, seen.length, 'no key twice')
  for (const id of ids) t.ok(seen.includes(id), 'every key once')
  const foreign = await app.inject({ method: 'GET', url: '/api/keys?cursor=bm9wZQ', headers: auth })
  t.equal(foreign.statusCode, 400)
})

t.test('unknown key ids are 404 KEY_NOT_FOUND', async t => {
  const app = await build(t, { db })
  for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
    for (const method of ['GET', 'DELETE'] as const) {
      const res = await app.inject({ method, url: `/api/keys/${id}`, headers: auth })
      t.equal(res.statusCode, 404, `${method} ${id}`)
      t.equal(res.json().code, 'KEY_NOT_FOUND')
    }
  }
})

t.test('a revoked key is refused at once, on this node and on every other', async t => {
  const prefix = uniquePrefix()
  const nodeA = await build(t, { db, env: { REDIS_PREFIX: prefix } })
  const nodeB = await build(t, { db, env: { REDIS_PREFIX: prefix } })
  t.equal(redisKeys(prefix).keysRevokedChannel, `${prefix}:keys-revoked`)
  const { id, key } = await createKey(nodeA, { sessions: 'all', access: 'write' })
  // Both nodes have looked the key up (and may hold it in memory).
  for (const node of [nodeA, nodeB]) t.equal((await node.inject({ method: 'GET', url: '/api/sessions', headers: withKey(key) })).statusCode, 200)

  const res = await nodeA.inject({ method: 'DELETE', url: `/api/keys/${id}`, headers: auth })
  t.equal(res.statusCode, 200)
  t.same(res.json().data, { id, revoked: true })
  t.equal((await nodeA.inject({ method: 'GET', url: '/api/sessions', headers: withKey(key) })).statusCode, 401, 'refused on the node that revoked it')
  // The other node hears of it over Redis; poll with a generous deadline.
  const deadline = Date.now() + 10_000
  let status = 0
  while (Date.now() < deadline) {
    status = (await nodeB.inject({ method: 'GET', url: '/api/sessions', headers: withKey(key) })).statusCode
    if (status === 401) break
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  t.equal(status, 401, 'refused on the other node')
  t.equal((await nodeA.inject({ method: 'GET', url: `/api/keys/${id}`, headers: auth })).statusCode, 404, 'gone from the list')
})

t.test('scoped keys may not manage keys, whatever their access', async t => {
  const app = await build(t, { db })
  const target = await createKey(app, { sessions: 'all', access: 'read' })
  for (const access of ['read', 'write'] as const) {
    const { key } = await createKey(app, { sessions: 'all', access })
    const calls = [
      { method: 'POST' as const, url: '/api/keys', payload: { name: 'x', scope: { sessions: 'all', access: 'write' } } },
      { method: 'GET' as const, url: '/api/keys' },
      { method: 'GET' as const, url: `/api/keys/${target.id}` },
      { method: 'DELETE' as const, url: `/api/keys/${target.id}` }
    ]
    for (const call of calls) {
      const res = await app.inject({ ...call, headers: withKey(key) })
      t.equal(res.statusCode, 403, `${access}: ${call.method} ${call.url}`)
      t.equal(res.json().code, 'FORBIDDEN')
    }
  }
  t.equal((await app.inject({ method: 'GET', url: `/api/keys/${target.id}`, headers: auth })).statusCode, 200, 'the target key still exists')
})
