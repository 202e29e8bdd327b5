import t from 'tap'
import { PassThrough } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { UnrecoverableError, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { redisKeys, workerQueueName } from '@wss/shared'
import { KEY, REDIS_URL, build, createPublisher, inspectQueue, expireWorker, registerWorker, type Tap } from '../../helper.ts'
import { closeRedisClients, waitForRedis } from '../../../src/redis.ts'

const redis = await createPublisher(t)
const BOARD = '/admin/queues'
const ORIGIN = 'http://localhost:80'
const form = () => ({
  'content-type': 'application/x-www-form-urlencoded',
  origin: ORIGIN,
  host: 'localhost:80',
  accept: 'text/html'
})

async function login (app: FastifyInstance, key = KEY) {
  return await app.inject({ method: 'POST', url: `${BOARD}/login`, headers: form(), payload: `key=${encodeURIComponent(key)}` })
}

/** The cookie a login sets, as a browser sends it back. */
function cookieOf (res: Awaited<ReturnType<typeof login>>): string {
  const set = res.cookies.find(c => c.name === 'wss_board')
  if (set === undefined) throw new Error('no board cookie set')
  return `wss_board=${set.value}`
}

/** A job in `workerId`'s command queue that failed for good, as a worker's permanent failure leaves it. */
async function failedJob (t: Tap, prefix: string, workerId: string): Promise<string> {
  const queue = await inspectQueue(t, prefix, workerId)
  const job = await queue.add('delete-status', { doomed: true }, { attempts: 1 })
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
  await waitForRedis(connection)
  const worker = new Worker(workerQueueName(workerId), async () => { throw new UnrecoverableError('session gone') },
    { connection, prefix: redisKeys(prefix).bull })
  t.teardown(async () => { await worker.close(); await closeRedisClients(connection) })
  for (let i = 0; i < 100 && !(await job.isFailed()); i++) await new Promise(resolve => setTimeout(resolve, 100))
  await worker.close()
  return job.id!
}

t.test('without a login: pages redirect to the login form, the board API answers 401 in the envelope', async t => {
  const app = await build(t)
  const page = await app.inject({ method: 'GET', url: BOARD })
  t.equal(page.statusCode, 302)
  t.equal(page.headers.location, `${BOARD}/login`)
  const api = await app.inject({ method: 'GET', url: `${BOARD}/api/queues` })
  t.equal(api.statusCode, 401)
  t.equal(api.json().code, 'UNAUTHORIZED')
  const form = await app.inject({ method: 'GET', url: `${BOARD}/login` })
  t.equal(form.statusCode, 200)
  t.match(form.body, /<form method="post" action="\/admin\/queues\/login">/)
  t.match(form.headers['content-security-policy'], /default-src 'none'/)
})

t.test('an admin key logs in: httpOnly SameSite=Strict signed cookie without the key; the board lists the live workers\' queues', async t => {
  const app = await build(t)
  const prefix = app.config.REDIS_PREFIX
  await registerWorker(redis, prefix, 'w-board-1')
  const res = await login(app)
  t.equal(res.statusCode, 303)
  t.equal(res.headers.location, BOARD)
  const set = res.cookies.find(c => c.name === 'wss_board')!
  t.equal(set.httpOnly, true)
  t.equal(set.sameSite, 'Strict')
  t.equal(set.path, BOARD)
  t.notMatch(set.value, KEY, 'the key is not in the cookie')
  const cookie = cookieOf(res)

  t.equal((await app.inject({ method: 'GET', url: BOARD, headers: { cookie } })).statusCode, 200)
  const queues = await app.inject({ method: 'GET', url: `${BOARD}/api/queues`, headers: { cookie } })
  t.equal(queues.statusCode, 200)
  t.same(queues.json().queues.map((q: { name: string }) => q.name), ['scheduled-statuses', 'webhooks', 'cmd-w-board-1'], 'the deployment\'s queues and the live worker\'s')

  // A worker that comes up later shows without a restart; one whose lease lapses goes.
  await registerWorker(redis, prefix, 'w-board-2')
  await expireWorker(redis, prefix, 'w-board-1')
  let names: string[] = []
  for (let i = 0; i < 50; i++) {
    const list = await app.inject({ method: 'GET', url: `${BOARD}/api/queues`, headers: { cookie } })
    names = list.json().queues.map((q: { name: string }) => q.name)
    if (names.length === 3 && names[2] === 'cmd-w-board-2') break
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  t.same(names, ['scheduled-statuses', 'webhooks', 'cmd-w-board-2'])

  const out = await app.inject({ method: 'GET', url: `${BOARD}/logout`, headers: { cookie } })
  t.equal(out.statusCode, 303)
  t.equal(out.cookies.find(c => c.name === 'wss_board')?.value, '', 'the cookie is cleared')
})

t.test('a wrong key: 401, then rate limited; a cross-origin post is refused', async t => {
  const app = await build(t, { env: { RATE_LIMIT_MAX: '3', RATE_LIMIT_SYNC_MS: '0' } })
  const wrong = await login(app, 'not-the-key')
  t.equal(wrong.statusCode, 401)
  t.match(wrong.body, /not an admin API key/)
  t.equal(wrong.cookies.length, 0)
  const json = await app.inject({ method: 'POST', url: `${BOARD}/login`, headers: { ...form(), accept: 'application/json' }, payload: 'key=guess' })
  t.equal(json.statusCode, 401)
  t.equal(json.json().code, 'UNAUTHORIZED')
  await login(app, 'guess-3')
  const limited = await login(app)
  t.equal(limited.statusCode, 429, 'even the right key waits once the limit is reached')
  t.equal(limited.json().code, 'RATE_LIMITED')

  const other = await build(t)
  const cross = await other.inject({
    method: 'POST', url: `${BOARD}/login`, headers: { ...form(), origin: 'https://evil.example' }, payload: `key=${KEY}`
  })
  t.equal(cross.statusCode, 403)
  t.equal(cross.json().code, 'FORBIDDEN')
  t.equal(cross.cookies.length, 0)
})

t.test('a tampered or forged cookie is refused', async t => {
  const app = await build(t)
  const cookie = cookieOf(await login(app))
  const value = decodeURIComponent(cookie.slice('wss_board='.length))
  const [expires, rest] = [value.slice(0, value.indexOf('.')), value.slice(value.indexOf('.'))]
  const later = `wss_board=${encodeURIComponent(`${Number(expires) + 1e9}${rest}`)}`
  for (const bad of [later, 'wss_board=4102444800000.abc', `${cookie}x`]) {
    t.equal((await app.inject({ method: 'GET', url: `${BOARD}/api/queues`, headers: { cookie: bad } })).statusCode, 401, bad)
  }
  // Another deployment (other keys, so another secret) does not accept this one's cookie.
  const other = await build(t, { env: { API_KEY: 'another-deployment-key-000' } })
  t.equal((await other.inject({ method: 'GET', url: `${BOARD}/api/queues`, headers: { cookie } })).statusCode, 401)
})

t.test('read-only: the board lists a failed job but refuses to retry it; otherwise the retry runs', async t => {
  const ro = await build(t, { env: { QUEUE_BOARD_READ_ONLY: 'true' } })
  const prefix = ro.config.REDIS_PREFIX
  await registerWorker(redis, prefix, 'w-ro')
  const jobId = await failedJob(t, prefix, 'w-ro')
  const queue = await inspectQueue(t, prefix, 'w-ro')
  t.equal(await queue.getJobState(jobId), 'failed')
  const cookie = cookieOf(await login(ro))
  const queues = (await ro.inject({ method: 'GET', url: `${BOARD}/api/queues?activeQueue=cmd-w-ro&status=failed`, headers: { cookie } })).json()
  const commands = queues.queues.find((q: { name: string }) => q.name === 'cmd-w-ro')
  t.ok(queues.queues.every((q: { readOnlyMode: boolean }) => q.readOnlyMode), 'every queue read-only')
  t.equal(commands.counts.failed, 1)
  const retry = await ro.inject({ method: 'PUT', url: `${BOARD}/api/queues/cmd-w-ro/${jobId}/retry`, headers: { cookie } })
  t.equal(retry.statusCode, 405)
  t.equal(await queue.getJobState(jobId), 'failed', 'the job stays failed')

  const rw = await build(t, { env: { QUEUE_BOARD_READ_ONLY: 'false', REDIS_PREFIX: prefix } })
  const rwCookie = cookieOf(await login(rw))
  const ok = await rw.inject({ method: 'PUT', url: `${BOARD}/api/queues/cmd-w-ro/${jobId}/retry`, headers: { cookie: rwCookie } })
  t.equal(ok.statusCode, 204)
  t.equal(await queue.getJobState(jobId), 'waiting', 'the job is queued again')
})

t.test('QUEUE_BOARD_PATH set empty turns the board off', async t => {
  const app = await build(t, { env: { QUEUE_BOARD_PATH: '' } })
  t.equal((await app.inject({ method: 'GET', url: `${BOARD}/login` })).statusCode, 404)
})

t.test('logins leave neither the key nor the cookie in the logs', async t => {
  const stream = new PassThrough()
  let output = ''
  stream.on('data', chunk => { output += chunk.toString() })
  const app = await build(t, { env: { LOG_LEVEL: 'trace' }, logStream: stream })
  await login(app, 'wrong-key-attempt-0000')
  const cookie = cookieOf(await login(app))
  await app.inject({ method: 'GET', url: `${BOARD}/api/queues`, headers: { cookie } })
  await app.inject({ method: 'GET', url: `${BOARD}/api/queues`, headers: { cookie: `${cookie}x` } })
  await new Promise(resolve => setTimeout(resolve, 700))
  t.match(output, /dashboard login refused/)
  t.match(output, /dashboard login"/)
  t.notMatch(output, KEY)
  t.notMatch(output, 'wrong-key-attempt-0000')
  t.notMatch(output, decodeURIComponent(cookie.slice('wss_board='.length)).split('.')[1]!)
})
