import t from 'tap'
import { MAX_FILTER_SESSIONS, parseSessionIds, SessionFilter } from '../../src/lib/session-filter.ts'

t.test('parseSessionIds reads every accepted shape', async t => {
  t.same(parseSessionIds('a'), ['a'])
  t.same(parseSessionIds('a, b,a'), ['a', 'b'])
  t.same(parseSessionIds(['a', 'b,c']), ['a', 'b', 'c'])
  t.same(parseSessionIds({ sessionId: 'x' }), ['x'])
  t.same(parseSessionIds({ sessionId: ['x', 'y'] }), ['x', 'y'])
})

t.test('parseSessionIds refuses anything not a session id', async t => {
  for (const bad of [undefined, null, 1, '', ',', 'a b', 'a,../b', ['a', 2], {}, { sessionId: 5 }, 'x'.repeat(65)]) {
    t.equal(parseSessionIds(bad), null, JSON.stringify(bad))
  }
  const many = Array.from({ length: MAX_FILTER_SESSIONS + 1 }, (_, i) => `s${i}`).join(',')
  t.equal(parseSessionIds(many), null, 'too many')
})

t.test('SessionFilter semantics', async t => {
  const f = new SessionFilter()
  t.ok(f.all)
  t.ok(f.matches('anything'))
  f.unsubscribe(['x'])
  t.ok(f.all, 'unsubscribe cannot narrow an unfiltered client')
  t.ok(f.subscribe(['a']))
  t.notOk(f.all)
  t.ok(f.matches('a'))
  t.notOk(f.matches('b'))
  f.unsubscribe(['a'])
  t.same(f.snapshot(), { all: false, sessionIds: [] })
  t.notOk(f.matches('a'), 'an empty filter receives nothing')

  const capped = new SessionFilter(['s'])
  t.notOk(capped.subscribe(Array.from({ length: MAX_FILTER_SESSIONS }, (_, i) => `x${i}`)), 'bounded')
  t.same(capped.sessionIds, ['s'], 'a refused subscribe changes nothing')
})
