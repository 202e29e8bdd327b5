import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.ts'

t.test('defaults', async t => {
  const config = loadConfig({ API_KEY: 'k-0123456789abcdef' })
  t.match(config, {
    PORT: 3000,
    HOST: '0.0.0.0',
    DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/wss',
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_PREFIX: 'wss',
    RATE_LIMIT_MAX: 300,
    RATE_LIMIT_WINDOW_MS: 900000,
    MAX_UPLOAD_MB: 16,
    SEND_TIMEOUT_MS: 30000,
    START_WAIT_MS: 10000,
    COMMAND_TIMEOUT_MS: 15000,
    UPLOAD_TTL_HOURS: 24,
    DB_POOL_SIZE: 10,
    LOG_LEVEL: 'info',
    trustProxy: false,
    REQUEST_TIMEOUT_MS: 300000,
    CONNECTION_TIMEOUT_MS: 120000,
    MAX_AUDIENCE: 5000,
    MAX_EVENT_CLIENTS: 1000,
    corsOrigins: []
  })
  t.same(config.apiKeys, ['k-0123456789abcdef'])
  t.notOk('API_KEY' in config, 'the raw key list is not kept')
})

t.test('numbers are coerced and empty variables count as unset', async t => {
  const config = loadConfig({ API_KEY: 'k-0123456789abcdef', PORT: '8080', RATE_LIMIT_MAX: '5', MAX_UPLOAD_MB: '0.5', HOST: '' })
  t.equal(config.PORT, 8080)
  t.equal(config.RATE_LIMIT_MAX, 5)
  t.equal(config.MAX_UPLOAD_MB, 0.5)
  t.equal(config.HOST, '0.0.0.0')
})

t.test('API_KEY holds several keys for rotation', async t => {
  t.same(loadConfig({ API_KEY: 'old-key-0123456789, new-key-0123456789,,' }).apiKeys, ['old-key-0123456789', 'new-key-0123456789'])
})

t.test('TRUST_PROXY forms', async t => {
  t.equal(loadConfig({ API_KEY: 'k-0123456789abcdef', TRUST_PROXY: 'false' }).trustProxy, false)
  t.equal(loadConfig({ API_KEY: 'k-0123456789abcdef', TRUST_PROXY: 'TRUE' }).trustProxy, true)
  t.equal(loadConfig({ API_KEY: 'k-0123456789abcdef', TRUST_PROXY: '2' }).trustProxy, 2)
  t.same(loadConfig({ API_KEY: 'k-0123456789abcdef', TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1,loopback' }).trustProxy, ['10.0.0.0/8', '127.0.0.1', '::1', 'loopback'])
})

t.test('a bad variable is named, its value never echoed', async t => {
  const cases: Array<[Record<string, string>, string]> = [
    [{}, 'API_KEY'],
    [{ API_KEY: ' , ' }, 'API_KEY'],
    [{ API_KEY: 'k-0123456789abcdef', PORT: 'eighty' }, 'PORT'],
    [{ API_KEY: 'k-0123456789abcdef', PORT: '70000' }, 'PORT'],
    [{ API_KEY: 'k-0123456789abcdef', REDIS_URL: 'http://secret-host' }, 'REDIS_URL'],
    [{ API_KEY: 'k-0123456789abcdef', DATABASE_URL: 'mysql://secret-host' }, 'DATABASE_URL'],
    [{ API_KEY: 'k-0123456789abcdef', LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ API_KEY: 'k-0123456789abcdef', TRUST_PROXY: '10.0.0.0/99' }, 'TRUST_PROXY'],
    [{ API_KEY: 'k-0123456789abcdef', TRUST_PROXY: 'secret-host' }, 'TRUST_PROXY'],
    [{ API_KEY: 'k-0123456789abcdef', REDIS_PREFIX: 'has space' }, 'REDIS_PREFIX'],
    [{ API_KEY: 'k-0123456789abcdef', CORS_ORIGINS: 'https://secret-host/path' }, 'CORS_ORIGINS']
  ]
  for (const [env, variable] of cases) {
    const err = t.throws(() => loadConfig(env), ConfigError, variable) as unknown as ConfigError
    t.equal(err.variable, variable)
    t.match(err.message, new RegExp(`^Invalid configuration: ${variable} `))
    t.notMatch(err.message, /secret-host|eighty/)
  }
})

t.test('API_KEY: every key needs 16 characters; the message never echoes one', async t => {
  for (const API_KEY of ['k', 'long-enough-key-0123,short-secret']) {
    const err = t.throws(() => loadConfig({ API_KEY }), ConfigError) as unknown as ConfigError
    t.equal(err.variable, 'API_KEY')
    t.match(err.message, /at least 16 characters/)
    t.notMatch(err.message, /short-secret|long-enough/)
  }
  t.same(loadConfig({ API_KEY: 'exactly-16-chars' }).apiKeys, ['exactly-16-chars'])
})

t.test('CORS_ORIGINS: empty means none; origins are kept as given', async t => {
  t.same(loadConfig({ API_KEY: 'k-0123456789abcdef' }).corsOrigins, [])
  t.same(loadConfig({ API_KEY: 'k-0123456789abcdef', CORS_ORIGINS: 'https://a.example, http://localhost:5173' }).corsOrigins, ['https://a.example', 'http://localhost:5173'])
})

t.test('queue dashboard settings: on at /admin/queues, off when set empty, read-only by default in production', async t => {
  const dev = loadConfig({ API_KEY: 'k-0123456789abcdef' })
  t.equal(dev.queueBoardPath, '/admin/queues')
  t.equal(dev.QUEUE_BOARD_READ_ONLY, false)
  t.equal(dev.QUEUE_BOARD_SESSION_HOURS, 8)
  t.equal(loadConfig({ API_KEY: 'k-0123456789abcdef', NODE_ENV: 'production' }).QUEUE_BOARD_READ_ONLY, true)
  t.equal(loadConfig({ API_KEY: 'k-0123456789abcdef', NODE_ENV: 'production', QUEUE_BOARD_READ_ONLY: 'false' }).QUEUE_BOARD_READ_ONLY, false)
  t.equal(loadConfig({ API_KEY: 'k-0123456789abcdef', QUEUE_BOARD_READ_ONLY: 'true' }).QUEUE_BOARD_READ_ONLY, true)
  t.equal(loadConfig({ API_KEY: 'k-0123456789abcdef', QUEUE_BOARD_PATH: '' }).queueBoardPath, null)
  t.equal(loadConfig({ API_KEY: 'k-0123456789abcdef', QUEUE_BOARD_PATH: '/ops/bull' }).queueBoardPath, '/ops/bull')
  for (const [variable, value] of [['QUEUE_BOARD_PATH', 'admin'], ['QUEUE_BOARD_PATH', '/a/<x>'], ['QUEUE_BOARD_PATH', '/trailing/'],
    ['QUEUE_BOARD_READ_ONLY', 'maybe'], ['SESSION_SECRET', 'too-short'], ['GIT_REVISION', 'a b']]) {
    const err = t.throws(() => loadConfig({ API_KEY: 'k-0123456789abcdef', [variable!]: value })) as unknown as ConfigError
    t.equal(err.variable, variable, `${variable}=${value}`)
    t.notMatch(err.message, value!, 'the value is not echoed')
  }
})
