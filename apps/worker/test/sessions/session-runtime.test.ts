import t from 'tap'
import { randomUUID } from 'node:crypto'
import pino from 'pino'
import { createAuthStore } from '../../src/auth/index.ts'
import { createEventPublisher } from '../../src/events.ts'
import { ConnectLimiter } from '../../src/sessions/connect-limiter.ts'
import { SessionRuntime } from '../../src/sessions/session-runtime.ts'
import { migratedPrisma, redisClient, uniquePrefix } from '../helpers.ts'

t.test('a session stopped while it is still loading (its worker fenced mid-start) stops cleanly', async t => {
  const { prisma } = await migratedPrisma(t)
  const sessionId = `s-${randomUUID().slice(0, 8)}`
  await prisma.session.create({ data: { id: sessionId, name: 'mid-start', authMethod: 'qrcode', state: 'connected', generation: 1n } })
  const logger = pino({ level: 'silent' })
  let sockets = 0
  const rt = new SessionRuntime(sessionId, 1n, {
    prisma,
    authStore: createAuthStore({ prisma, logger }),
    events: createEventPublisher(await redisClient(t), uniquePrefix(), logger),
    makeSocket: () => { sockets++; throw new Error('a stopped session must not open a socket') },
    connectLimiter: new ConnectLimiter(2),
    logger,
    config: { RECONNECT_BASE_MS: 1000, RECONNECT_MAX_MS: 60_000, PAIRING_MAX_ATTEMPTS: 5 },
    onFinished: () => {},
    onSocket: () => {}
  })
  const waiting = rt.settled(10_000)
  const starting = rt.start() // reads the row: not loaded yet when the fence stops it
  await t.resolves(rt.suspend(), 'the suspend of a runtime with no row yet does not throw')
  await t.resolves(starting, 'the start it interrupted ends too')
  t.equal(sockets, 0, 'no socket opened')
  t.ok((await waiting) !== undefined, 'a caller waiting for it is answered (at its timeout)')
})
