import t from 'tap'
import { ADMIN_SCOPE, hashKey, inScope, looksLikeScopedKey, mayUseUpload, mayWrite, newKeyToken, type KeyScope } from '../../src/lib/key-scope.ts'

const scoped = (sessions: KeyScope['sessions'], access: KeyScope['access'] = 'write'): KeyScope =>
  ({ keyId: '00000000-0000-4000-8000-000000000001', admin: false, sessions, access })

t.test('ids match exactly, prefixes by their start', async t => {
  const scope = scoped(['acme-*', 'solo'])
  for (const id of ['acme-', 'acme-1', 'acme-x_y', 'solo']) t.ok(inScope(scope, id), id)
  for (const id of ['acme', 'acmeX-1', 'solo-2', 'sol', 'xacme-1']) t.notOk(inScope(scope, id), id)
  t.ok(inScope(scoped('all'), 'anything'))
  t.ok(inScope(ADMIN_SCOPE, 'anything'))
})

t.test('read keys may not write; uploads belong to their key', async t => {
  t.notOk(mayWrite(scoped('all', 'read')))
  t.ok(mayWrite(scoped('all', 'write')))
  t.ok(mayUseUpload(scoped('all'), '00000000-0000-4000-8000-000000000001'))
  t.notOk(mayUseUpload(scoped('all'), '00000000-0000-4000-8000-000000000002'), 'another key\'s')
  t.notOk(mayUseUpload(scoped('all'), null), 'an admin key\'s')
  t.ok(mayUseUpload(ADMIN_SCOPE, '00000000-0000-4000-8000-000000000002'), 'admin keys use any')
})

t.test('keys are 256 random bits; only their shape is looked up; the hash is SHA-256', async t => {
  const a = newKeyToken()
  t.match(a, /^wss_[A-Za-z0-9_-]{43}$/)
  t.not(a, newKeyToken())
  t.ok(looksLikeScopedKey(a))
  for (const other of ['wss_short', `wss_${'a'.repeat(44)}`, `xyz_${'a'.repeat(43)}`, 42, undefined]) t.notOk(looksLikeScopedKey(other), String(other))
  t.equal(hashKey('wss_x'), 'adb9b46d43129809ad43f831b963d7940d4077e28e9d87d4e65cf5f4f34cccad', 'hex SHA-256')
  t.match(hashKey(a), /^[0-9a-f]{64}$/)
})
