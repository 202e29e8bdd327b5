import t from 'tap'
import { createBoardSessions } from '../../src/lib/board-session.ts'

const HOUR = 3600_000
const KEYS = ['admin-key-one-0123456789', 'admin-key-two-9876543210']

t.test('a login lasts its time, then ends', async t => {
  let now = 1_000_000
  const sessions = createBoardSessions({ apiKeys: KEYS, ttlMs: 8 * HOUR, now: () => now })
  const value = sessions.issue(KEYS[1])!
  t.ok(sessions.check(value))
  now += 8 * HOUR - 1
  t.ok(sessions.check(value), 'still valid just before it expires')
  now += 1
  t.notOk(sessions.check(value), 'expired')
})

t.test('only the admin keys log in, and the cookie never holds the key', async t => {
  const sessions = createBoardSessions({ apiKeys: KEYS, ttlMs: HOUR })
  t.equal(sessions.issue('guess'), null)
  t.equal(sessions.issue(''), null)
  t.equal(sessions.issue(undefined), null)
  t.equal(sessions.issue('x'.repeat(5000)), null)
  const value = sessions.issue(KEYS[0])!
  for (const key of KEYS) t.notMatch(value, key)
  t.notOk(sessions.check('garbage'))
  t.notOk(sessions.check(`.${value.split('.')[1]}`), 'no expiry')
  t.notOk(sessions.check(null))
})

t.test('removing a key from API_KEY ends the logins it made; the others hold', async t => {
  const before = createBoardSessions({ apiKeys: KEYS, ttlMs: HOUR, secret: 's'.repeat(32) })
  const removed = before.issue(KEYS[0])!
  const kept = before.issue(KEYS[1])!
  const after = createBoardSessions({ apiKeys: [KEYS[1]!], ttlMs: HOUR, secret: 's'.repeat(32) })
  t.notOk(after.check(removed))
  t.ok(after.check(kept))
})

t.test('the signing secret: SESSION_SECRET, else derived from the keys, the same on every node', async t => {
  t.equal(createBoardSessions({ apiKeys: KEYS, ttlMs: HOUR, secret: 'x'.repeat(40) }).secret, 'x'.repeat(40))
  const a = createBoardSessions({ apiKeys: KEYS, ttlMs: HOUR }).secret
  t.equal(createBoardSessions({ apiKeys: [...KEYS].reverse(), ttlMs: HOUR }).secret, a, 'key order does not matter')
  t.not(createBoardSessions({ apiKeys: [KEYS[0]!], ttlMs: HOUR }).secret, a, 'other keys, another secret')
  for (const key of KEYS) t.notMatch(a, key)
})
