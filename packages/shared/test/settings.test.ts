import t from 'tap'
import { Type } from 'typebox'
import {
  ConfigError, DEFAULT_DATABASE_URL, DatabaseSettingsSchema, ProcessSettingsSchema, RedisSettingsSchema, loadSettings
} from '../src/settings.ts'

// What an app composes: shared groups plus settings of its own.
const AppSchema = Type.Object({
  ...DatabaseSettingsSchema.properties,
  ...RedisSettingsSchema.properties,
  ...ProcessSettingsSchema.properties,
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  WA_WS_URL: Type.Optional(Type.String({ pattern: '^wss?://' }))
})

t.test('shared defaults apply when nothing is set', async t => {
  t.same(loadSettings(AppSchema, {}), {
    DATABASE_URL: DEFAULT_DATABASE_URL,
    DB_POOL_SIZE: 10,
    DB_IDLE_IN_TRANSACTION_MS: 60000,
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_PREFIX: 'wss',
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: 15000,
    PORT: 3000
  })
})

t.test('values are coerced, unknown variables dropped', async t => {
  const settings = loadSettings(AppSchema, { DB_POOL_SIZE: '25', PORT: '8080', PATH: '/usr/bin', HOME: '/root' })
  t.equal(settings.DB_POOL_SIZE, 25)
  t.equal(settings.PORT, 8080)
  t.notOk('PATH' in settings)
})

t.test('an empty value means unset: the default, or nothing for an optional setting', async t => {
  const settings = loadSettings(AppSchema, { DATABASE_URL: '', PORT: ' ', WA_WS_URL: '', LOG_LEVEL: '' })
  t.equal(settings.DATABASE_URL, DEFAULT_DATABASE_URL)
  t.equal(settings.PORT, 3000)
  t.equal(settings.LOG_LEVEL, 'info')
  t.notOk('WA_WS_URL' in settings, 'an exported but empty WA_WS_URL does not fail its pattern')
})

t.test('only the given environment is read, never process.env behind it', async t => {
  // The variables an operator leaves exported in a shell must not leak into a parse of another env.
  const saved = process.env.WA_WS_URL
  process.env.WA_WS_URL = ''
  t.teardown(() => { if (saved === undefined) delete process.env.WA_WS_URL; else process.env.WA_WS_URL = saved })
  t.notOk('WA_WS_URL' in loadSettings(AppSchema, {}))
  t.equal(loadSettings(AppSchema, { WA_WS_URL: 'ws://127.0.0.1:1' }).WA_WS_URL, 'ws://127.0.0.1:1')
})

t.test('a bad value is named, never echoed', async t => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ DATABASE_URL: 'mysql://user:hunter2@secret-host/db' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'http://user:hunter2@secret-host' }, 'REDIS_URL'],
    [{ REDIS_PREFIX: 'hunter2 secret-host' }, 'REDIS_PREFIX'],
    [{ DB_POOL_SIZE: 'hunter2' }, 'DB_POOL_SIZE'],
    [{ DB_POOL_SIZE: '201' }, 'DB_POOL_SIZE'],
    [{ SHUTDOWN_TIMEOUT_MS: '99' }, 'SHUTDOWN_TIMEOUT_MS'],
    [{ LOG_LEVEL: 'hunter2' }, 'LOG_LEVEL'],
    [{ WA_WS_URL: 'http://secret-host' }, 'WA_WS_URL']
  ]
  for (const [env, variable] of cases) {
    const err = t.throws(() => loadSettings(AppSchema, env), ConfigError, variable) as unknown as ConfigError
    t.equal(err.variable, variable)
    t.match(err.message, new RegExp(`^Invalid configuration: ${variable} `))
    t.notMatch(err.message, /hunter2|secret-host/)
  }
})

t.test('a required setting that is missing or empty is named', async t => {
  const Required = Type.Object({ API_KEY: Type.String({ minLength: 1 }) })
  for (const env of [{}, { API_KEY: '' }]) {
    const err = t.throws(() => loadSettings(Required, env), ConfigError) as unknown as ConfigError
    t.equal(err.message, 'Invalid configuration: API_KEY is required')
  }
})

t.test('webhooks refuse private addresses unless told otherwise', async t => {
  const { WebhookSettingsSchema } = await import('../src/settings.ts')
  t.same(loadSettings(WebhookSettingsSchema, {}), { WEBHOOK_ALLOW_PRIVATE: false })
  t.same(loadSettings(WebhookSettingsSchema, { WEBHOOK_ALLOW_PRIVATE: 'true' }), { WEBHOOK_ALLOW_PRIVATE: true })
  t.throws(() => loadSettings(WebhookSettingsSchema, { WEBHOOK_ALLOW_PRIVATE: 'sometimes' }), new ConfigError('WEBHOOK_ALLOW_PRIVATE', 'must be boolean'))
})
