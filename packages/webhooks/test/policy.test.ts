import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { checkWebhookUrl, endpointWants, newWebhookSecret, parseWebhookJob, signDelivery, UrlNotAllowedError, type Resolver } from '../src/index.ts'

const resolvesTo = (...addresses: string[]): Resolver => async () => addresses.map(address => ({ address, family: address.includes(':') ? 6 : 4 }))

t.test('endpoint URLs: http(s) only, no credentials, public addresses only unless allowed', async t => {
  const opts = { allowPrivate: false, resolve: resolvesTo('93.184.215.14') }
  t.equal(await checkWebhookUrl('https://hooks.example.com/in?x=1', opts), 'https://hooks.example.com/in?x=1')
  const refusals: Array<[string, Resolver, RegExp]> = [
    ['ftp://hooks.example.com/', opts.resolve, /only http and https/],
    ['https://user:pw@hooks.example.com/', opts.resolve, /user name or password/],
    ['hooks.example.com/in', opts.resolve, /not a valid absolute URL/],
    [`https://example.com/${'a'.repeat(2048)}`, opts.resolve, /longer than/],
    ['http://127.0.0.1:8080/', opts.resolve, /private, loopback or link-local/],
    ['http://[::1]/', opts.resolve, /private/],
    ['http://[::ffff:10.0.0.1]/', opts.resolve, /private/],
    ['http://169.254.169.254/latest/meta-data', opts.resolve, /private/],
    ['https://internal.example.com/', resolvesTo('93.184.215.14', '10.0.0.5'), /private/],
    ['https://nowhere.example.com/', async () => { throw Object.assign(new Error('x'), { code: 'ENOTFOUND' }) }, /could not be resolved \(ENOTFOUND\)/]
  ]
  for (const [url, resolve, message] of refusals) {
    await t.rejects(checkWebhookUrl(url, { allowPrivate: false, resolve }), { name: 'UrlNotAllowedError', message }, url.slice(0, 60))
  }
  t.equal(await checkWebhookUrl('http://127.0.0.1:8080/hooks', { allowPrivate: true }), 'http://127.0.0.1:8080/hooks', 'allowed by the setting')
  t.ok(new UrlNotAllowedError('x') instanceof Error)
})

t.test('which endpoints take an event', async t => {
  const all = { id: 'a', events: [], sessionIds: [], ownerKeyId: null }
  const some = { id: 'b', events: ['status-sent'], sessionIds: ['s1'], ownerKeyId: null }
  const scoped = { id: 'c', events: [], sessionIds: [], ownerKeyId: 'k' }
  t.ok(endpointWants(all, 'status-sent', 's9'))
  t.ok(endpointWants(some, 'status-sent', 's1'))
  t.notOk(endpointWants(some, 'status-sent', 's2'), 'another session')
  t.notOk(endpointWants(some, 'status-deleted', 's1'), 'another event')
  t.ok(endpointWants(all, 'webhook-disabled', null), 'an admin endpoint of every session hears of disabled endpoints')
  t.notOk(endpointWants(some, 'webhook-disabled', null))
  t.notOk(endpointWants(scoped, 'webhook-disabled', null), 'a scoped key\'s endpoint does not')
})

t.test('signatures verify with the standardwebhooks library, and only with the secret', async t => {
  const secret = newWebhookSecret()
  t.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/)
  const body = JSON.stringify({ type: 'status-sent', timestamp: new Date().toISOString(), data: { sessionId: 's1' } })
  const headers = signDelivery(secret, 'msg_1', new Date(), body)
  t.same(new Webhook(secret).verify(body, { ...headers }), JSON.parse(body))
  t.throws(() => new Webhook(secret).verify(body.replace('s1', 's2'), { ...headers }), 'a changed body does not verify')
  t.throws(() => new Webhook(newWebhookSecret()).verify(body, { ...headers }), 'another secret does not verify')
})

t.test('delivery jobs are validated as they leave Redis', async t => {
  t.same(parseWebhookJob({ deliveryId: '00000000-0000-4000-8000-000000000001', base: 0 }), { deliveryId: '00000000-0000-4000-8000-000000000001', base: 0 })
  t.equal(parseWebhookJob({ deliveryId: 'x', base: 0 }), null)
  t.equal(parseWebhookJob({ deliveryId: '00000000-0000-4000-8000-000000000001', base: -1 }), null)
  t.equal(parseWebhookJob(null), null)
})
