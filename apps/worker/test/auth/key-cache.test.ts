import t from 'tap'
import { createSharedKeyCache } from '../../src/auth/index.ts'

t.test('evicting a session forgets its entries of every generation, and no other session\'s', async (t) => {
  const cache = createSharedKeyCache({ max: 100 })
  cache.set('s1', 1n, 'session', 'a', 'v1')
  cache.set('s1', 2n, 'session', 'a', 'v2')
  cache.set('s1', 2n, 'pre-key', '7', null)
  cache.set('s10', 1n, 'session', 'a', 'other') // an id that starts with the other one's
  cache.set('s2', 1n, 'session', 'a', 'kept')
  cache.evictSession('s1')
  t.equal(cache.get('s1', 1n, 'session', 'a'), undefined)
  t.equal(cache.get('s1', 2n, 'session', 'a'), undefined)
  t.equal(cache.get('s1', 2n, 'pre-key', '7'), undefined, 'a remembered absence goes too')
  t.equal(cache.get('s10', 1n, 'session', 'a'), 'other')
  t.equal(cache.get('s2', 1n, 'session', 'a'), 'kept')
  t.equal(cache.size, 2)
  cache.evictSession('s1') // nothing left: nothing happens
  cache.evictSession('never-seen')
  t.equal(cache.size, 2)
})

t.test('entries the LRU dropped, overwrote or deleted leave the session index right', async (t) => {
  const cache = createSharedKeyCache({ max: 3 })
  cache.set('a', 1n, 'k', '1', 'x')
  cache.set('a', 1n, 'k', '1', 'y') // overwritten: still one entry of a
  cache.set('b', 1n, 'k', '1', 'x')
  cache.set('b', 1n, 'k', '2', 'x')
  cache.set('c', 1n, 'k', '1', 'x') // the cache is full: a's entry, the least recently used, goes
  t.equal(cache.get('a', 1n, 'k', '1'), undefined)
  cache.set('a', 1n, 'k', '1', 'z') // back again (b's first entry goes)
  t.equal(cache.get('a', 1n, 'k', '1'), 'z')
  cache.delete('b', 1n, 'k', '2')
  t.equal(cache.size, 2)
  cache.evictSession('a')
  t.equal(cache.get('a', 1n, 'k', '1'), undefined, 'the entry set after its eviction is forgotten too')
  t.equal(cache.get('c', 1n, 'k', '1'), 'x')
  cache.evictSession('b')
  t.equal(cache.size, 1, 'only c is left')
  cache.clear()
  cache.set('c', 1n, 'k', '1', 'again')
  cache.evictSession('c')
  t.equal(cache.size, 0, 'clear leaves no stale index behind')
})
