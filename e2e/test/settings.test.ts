// One .env (or one set of environment variables) configures the API nodes and the workers alike:
// a setting both read must mean the same thing to both, with the same default and the same limits.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { ConfigError, SandboxSettingsSchema } from '@wss/shared/settings'
import { EnvSchema as ApiEnvSchema, loadConfig as loadApiConfig } from '../../apps/api/src/config.ts'
import { EnvSchema as WorkerEnvSchema, loadConfig as loadWorkerConfig } from '../../apps/worker/src/config.ts'

const SHARED = ['DATABASE_URL', 'DB_POOL_SIZE', 'DB_IDLE_IN_TRANSACTION_MS', 'REDIS_URL', 'REDIS_PREFIX', 'LOG_LEVEL', 'SHUTDOWN_TIMEOUT_MS', 'START_WAIT_MS', 'METRICS_TOKEN', 'WEBHOOK_ALLOW_PRIVATE', 'MAX_AUDIENCE']

t.test('every setting both apps read has one definition: same default, same limits', async t => {
  const api = ApiEnvSchema.properties as Record<string, unknown>
  const worker = WorkerEnvSchema.properties as Record<string, unknown>
  const common = Object.keys(api).filter(key => key in worker).sort()
  t.same(common, [...SHARED].sort(), 'the settings both read')
  for (const key of common) t.same(api[key], worker[key], key)
})

t.test('the same environment gives both apps the same values, and the same refusals', async t => {
  const env = { API_KEY: 'k-0123456789abcdef', DATABASE_URL: 'postgres://db.internal:5432/wss', DB_POOL_SIZE: '150', LOG_LEVEL: 'warn', SHUTDOWN_TIMEOUT_MS: '', START_WAIT_MS: '0' }
  const api = loadApiConfig(env) as unknown as Record<string, unknown>
  const worker = loadWorkerConfig(env) as unknown as Record<string, unknown>
  for (const key of SHARED) t.same(api[key], worker[key], key)

  for (const [variable, value] of [['DB_POOL_SIZE', '500'], ['SHUTDOWN_TIMEOUT_MS', '50'], ['START_WAIT_MS', '-1'], ['REDIS_PREFIX', 'a b']]) {
    const bad = { API_KEY: 'k-0123456789abcdef', [variable]: value }
    const apiErr = t.throws(() => loadApiConfig(bad), ConfigError) as unknown as ConfigError
    const workerErr = t.throws(() => loadWorkerConfig(bad), ConfigError) as unknown as ConfigError
    t.equal(apiErr.message, workerErr.message, `${variable}: one message`)
    t.equal(apiErr.variable, variable)
  }
})

t.test('.env.example documents every setting with its true default, and sets none but API_KEY', async t => {
  const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')
  const valueLines = example.split('\n').filter(line => /^[A-Z0-9_]+=/.test(line))
  t.same(valueLines, ['API_KEY='], 'a value line would override the default in code')
  const documented = new Map<string, string>()
  for (const [, name, value] of example.matchAll(/^# ([A-Z][A-Z0-9_]*)=(.*)$/gm)) documented.set(name!, value!)
  const schemas = { ...ApiEnvSchema.properties, ...WorkerEnvSchema.properties, ...SandboxSettingsSchema.properties } as Record<string, { default?: unknown }>
  t.same([...documented.keys(), 'API_KEY'].sort(), Object.keys(schemas).sort(), 'every setting read, and nothing else')
  for (const [name, value] of documented) t.equal(value, schemas[name]!.default === undefined ? '' : String(schemas[name]!.default), name)
})
