import t from 'tap'
import { createApiKeyVerifier, extractApiKey, maskApiKeyInUrl } from '../../src/lib/api-key.ts'

t.test('the verifier accepts each configured key and nothing else', async t => {
  const verify = createApiKeyVerifier(['first-key', 'second-key'])
  t.ok(verify('first-key'))
  t.ok(verify('second-key'))
  for (const bad of ['', 'first-ke', 'first-keyy', 'FIRST-KEY', undefined, null, 42, ['first-key'], 'x'.repeat(5000)]) {
    t.notOk(verify(bad), String(JSON.stringify(bad)).slice(0, 20))
  }
})

t.test('the verifier compares whole keys of any length and content', async t => {
  const keys = ['short', 'a-much-longer-key-0123456789abcdef0123456789', 'ключ-ü-😀']
  const verify = createApiKeyVerifier(keys)
  for (const key of keys) t.ok(verify(key), key)
  for (const bad of ['shor', 'shortt', 'short\0', '\0short', 'a-much-longer-key-0123456789abcdef012345678', 'a-much-longer-key-0123456789abcdef0123456789x',
    'ключ-ü-😁', 'ключ-u-😀', 'SHORT', 'short '.trim() + ' ']) {
    t.notOk(verify(bad), JSON.stringify(bad))
  }
  t.notOk(createApiKeyVerifier([])('short'), 'no keys: nothing passes')
})

t.test('extractApiKey reads x-api-key first, then a Bearer token', async t => {
  t.equal(extractApiKey({ 'x-api-key': 'a' }), 'a')
  t.equal(extractApiKey({ authorization: 'Bearer b' }), 'b')
  t.equal(extractApiKey({ 'x-api-key': 'a', authorization: 'Bearer b' }), 'a')
  t.equal(extractApiKey({ authorization: 'Basic b' }), undefined)
  t.equal(extractApiKey({ authorization: 'Bearer' }), undefined)
  t.equal(extractApiKey({}), undefined)
})

t.test('maskApiKeyInUrl hides the query key only', async t => {
  t.equal(maskApiKeyInUrl('/api/events?apiKey=s3cret&sessionId=a'), '/api/events?apiKey=[REDACTED]&sessionId=a')
  t.equal(maskApiKeyInUrl('/api/events?sessionId=a&apikey=s3cret'), '/api/events?sessionId=a&apikey=[REDACTED]')
  t.equal(maskApiKeyInUrl('/api/sessions'), '/api/sessions')
})

t.test('maskApiKeyInUrl reads names as the query parser does', async t => {
  t.equal(maskApiKeyInUrl('/api/events?%61piKey=s3cret'), '/api/events?%61piKey=[REDACTED]')
  t.equal(maskApiKeyInUrl('/api/events?%2561piKey=s3cret&sessionId=a'), '/api/events?%2561piKey=[REDACTED]&sessionId=a')
  t.equal(maskApiKeyInUrl('/api/events#apiKey=s3cret'), '/api/events#apiKey=[REDACTED]')
  t.equal(maskApiKeyInUrl('/api/events?a=1#&apiKey=s3cret'), '/api/events?a=1#&apiKey=[REDACTED]')
  t.equal(maskApiKeyInUrl('/api/events?api+Key=s3cret&%E0%A4%A=x'), '/api/events?api+Key=s3cret&%E0%A4%A=x', 'only names that decode to apiKey')
})
