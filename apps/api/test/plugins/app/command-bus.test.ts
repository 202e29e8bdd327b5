import t from 'tap'
import { Redis } from 'ioredis'
import pino from 'pino'
import { COMMAND_JOB_OPTIONS, createOwnerRegistry, isAppError, parseCommandReply, type AppError } from '@wss/shared'
import { createCommandBus } from '../../../src/plugins/app/command-bus.ts'
import { closeRedisClients, REQUEST_PATH_OPTIONS, waitForRedis } from '../../../src/redis.ts'
import { createPublisher, eventually, inspectQueue, REDIS_URL, registerWorker, setOwner, settlesWithin, uniquePrefix, type Tap } from '../../helper.ts'

const log = pino({ level: 'silent' })

async function connection (t: Tap, url = REDIS_URL, wait = true): Promise<Redis> {
  const client = new Redis(url, { ...REQUEST_PATH_OPTIONS, lazyConnect: !wait })
  client.on('error', () => {})
  t.teardown(() => closeRedisClients(client))
  if (wait) await waitForRedis(client)
  return client
}

async function bus (t: Tap, options: { queueUrl?: string, defaultWaitMs?: number } = {}) {
  const prefix = uniquePrefix()
  const redis = await connection(t)
  const subscriber = new Redis(REDIS_URL)
  t.teardown(() => closeRedisClients(subscriber))
  const queueConnection = options.queueUrl === undefined ? await connection(t) : await connection(t, options.queueUrl, false)
  const commands = createCommandBus({
    registry: createOwnerRegistry(redis, prefix),
    queueConnection,
    subscriber,
    prefix,
    defaultWaitMs: options.defaultWaitMs ?? 200,
    log
  })
  t.teardown(() => commands.close())
  await commands.subscribed()
  return { commands, prefix, redis }
}

const rejection = async (promise: Promise<unknown>): Promise<AppError> => {
  try {
    await promise
  } catch (err) {
    if (isAppError(err)) return err
    throw err
  }
  throw new Error('expected a rejection')
}

t.test('NO_WORKER when no worker is alive', async t => {
  const { commands } = await bus(t)
  const err = await rejection(commands.send('restart-session', { sessionId: 's1' }))
  t.equal(err.code, 'NO_WORKER')
  t.equal(err.statusCode, 503)
  t.match(err.message, /no worker is available/i)
})

t.test('route: the live owner, else the least-loaded live worker', async t => {
  const { commands, prefix, redis } = await bus(t)
  await registerWorker(redis, prefix, 'a', 3)
  await registerWorker(redis, prefix, 'b', 1)
  await setOwner(redis, prefix, 'owned', 'a')
  await setOwner(redis, prefix, 'orphan', 'dead')
  t.equal(await commands.route('owned'), 'a')
  t.equal(await commands.route('orphan'), 'b')
  t.equal(await commands.route('new'), 'b')
})

t.test('WORKER_TIMEOUT when the worker does not answer; the job stays queued with its reply address', async t => {
  const { commands, prefix, redis } = await bus(t, { defaultWaitMs: 60_000 })
  await registerWorker(redis, prefix, 'w')
  const queue = await inspectQueue(t, prefix, 'w')
  // waitMs, not the bus's default wait, decides when to give up.
  const err = await rejection(settlesWithin(commands.send('delete-status', { sessionId: 's1', statusId: 'x' }, { waitMs: 150 }), 5000, 'timeout'))
  t.equal(err.code, 'WORKER_TIMEOUT')
  t.equal(err.statusCode, 504)
  const [job] = await queue.getJobs(['waiting'])
  t.match(job?.data, { name: 'delete-status', payload: { sessionId: 's1', statusId: 'x' }, replyTo: { channel: commands.channel } })
  t.match(job?.opts, { attempts: COMMAND_JOB_OPTIONS.attempts, removeOnComplete: true }, 'retried by BullMQ on a transient failure')

  // enqueue only queues, without a reply address.
  t.equal(await commands.enqueue('restart-session', { sessionId: 's1' }), undefined)
  t.equal(await queue.count(), 2)
  const restart = (await queue.getJobs(['waiting'])).find(j => j.data.name === 'restart-session')
  t.equal(restart?.data.replyTo, undefined)
})

// The reply side of the protocol only: what a worker publishes on the node's reply channel.
t.test('replies resolve the waiting request, coded failures reject with their code, garbage is ignored', async t => {
  const { commands, prefix, redis } = await bus(t, { defaultWaitMs: 30_000 })
  await registerWorker(redis, prefix, 'w')
  const queue = await inspectQueue(t, prefix, 'w')
  const publisher = await createPublisher(t)
  const requestIdOf = async (count: number) => {
    let id: string | undefined
    const queued = await eventually(async () => {
      const jobs = await queue.getJobs(['waiting'])
      id = jobs.find(j => j.data.payload.sessionId === `s${count}`)?.data.replyTo.requestId
      return id !== undefined
    })
    if (!queued || id === undefined) throw new Error('job not queued')
    return id
  }

  const ok = commands.send('request-pairing-code', { sessionId: 's1' })
  const okId = await requestIdOf(1)
  await publisher.publish(commands.channel, 'not json')
  await publisher.publish(commands.channel, JSON.stringify({ requestId: okId, ok: 'yes' }))
  await publisher.publish(commands.channel, JSON.stringify({ requestId: okId, ok: true, data: { pairingCode: 'ABCD1234' } }))
  t.same(await ok, { pairingCode: 'ABCD1234' })

  const refused = commands.send('send-status', { sessionId: 's2', statusId: 'x' })
  const refusedId = await requestIdOf(2)
  await publisher.publish(commands.channel, JSON.stringify({ requestId: refusedId, ok: false, code: 'WHATSAPP_REFUSED', message: 'error ack 479' }))
  const err = await rejection(refused)
  t.equal(err.code, 'WHATSAPP_REFUSED')
  t.equal(err.message, 'error ack 479')

  // A result that is not the command's (a worker of another version, a bug) is not passed on as one.
  const wrong = commands.send('request-pairing-code', { sessionId: 's3' })
  const wrongId = await requestIdOf(3)
  await publisher.publish(commands.channel, JSON.stringify({ requestId: wrongId, ok: true, data: { pairingCode: 42 } }))
  t.equal((await rejection(wrong)).code, 'INTERNAL')

  // An error code outside the shared table is not a reply at all.
  t.equal(parseCommandReply(JSON.stringify({ requestId: 'r', ok: false, code: 'NOT_A_CODE', message: 'x' })), null)
})

t.test('a payload that breaks its schema is a programming error, not a job', async t => {
  const { commands, prefix, redis } = await bus(t)
  await registerWorker(redis, prefix, 'w')
  // @ts-expect-error the payload lacks phoneNumber
  await t.rejects(commands.send('update-phone-number', { sessionId: 's1' }), TypeError)
})

t.test('Redis down for the producers: DEPENDENCY_UNAVAILABLE at once', async t => {
  const { commands } = await bus(t, { queueUrl: 'redis://127.0.0.1:1' })
  // Nothing ever listens on that port: a producer that waited for Redis would never answer.
  const err = await rejection(settlesWithin(commands.send('restart-session', { sessionId: 's1' }, { target: 'w' }), 10_000, 'failure'))
  t.equal(err.code, 'DEPENDENCY_UNAVAILABLE')
  t.equal(err.statusCode, 503)
})
