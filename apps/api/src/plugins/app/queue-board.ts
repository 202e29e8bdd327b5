import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import cookie from '@fastify/cookie'
import formbody from '@fastify/formbody'
import { createBullBoard } from '@bull-board/api'
import { FastifyAdapter } from '@bull-board/fastify'
import { duplicateRedisConnection, ErrorMessages, type ErrorEnvelope } from '@wss/shared'
import { watchRedis } from '../../redis.ts'
import { createBoardSessions, type BoardSessions } from '../../lib/board-session.ts'
import { createBoardQueues } from '../../lib/board-queues.ts'
import boardLogin, { BOARD_COOKIE } from '../../routes/admin/board-login.ts'

const HOUR_MS = 60 * 60 * 1000

/**
 * Admits a request to the board with a current login cookie. Otherwise the board's JSON API
 * answers 401 in the envelope and its pages redirect to the login form. The reply is sent here,
 * not thrown: Bull Board's own error handler would answer in its shape.
 */
function createGuard (base: string, sessions: BoardSessions) {
  const apiPrefix = `${base}/api/`
  return function guard (request: FastifyRequest, reply: FastifyReply, done: () => void) {
    const raw = request.cookies[BOARD_COOKIE]
    const unsigned = raw === undefined ? null : request.unsignCookie(raw)
    if (unsigned?.valid === true && sessions.check(unsigned.value)) return done()
    reply.header('cache-control', 'no-store')
    if (request.url.startsWith(apiPrefix)) {
      const body: ErrorEnvelope = { success: false, error: `${ErrorMessages.UNAUTHORIZED}: log in at ${base}/login`, code: 'UNAUTHORIZED' }
      reply.code(401).send(body)
      return
    }
    reply.redirect(`${base}/login`, 302)
  }
}

/** Bull Board itself, behind the guard, its queue list following the worker registry. */
async function registerBoard (board: FastifyInstance, base: string, sessions: BoardSessions) {
  const serverAdapter = new FastifyAdapter()
  serverAdapter.setBasePath(base)
  const { replaceQueues } = createBullBoard({
    queues: [],
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'Status server',
        miscLinks: [{ text: 'Log out', url: `${base}/logout` }]
      }
    }
  })
  const { config } = board
  const connection = duplicateRedisConnection(board.redis, { connectionName: 'wss-api-board' })
  const log = board.log.child({ plugin: 'queue-board' })
  watchRedis(connection, log)
  const list = createBoardQueues({
    owners: board.owners,
    connection,
    prefix: config.REDIS_PREFIX,
    readOnly: config.QUEUE_BOARD_READ_ONLY,
    replaceQueues: adapters => replaceQueues(adapters),
    log
  })
  board.addHook('onClose', async () => {
    await list.close()
    if (connection.status === 'ready') await connection.quit().catch(() => connection.disconnect())
    else connection.disconnect()
  })

  await board.register(async guarded => {
    guarded.addHook('onRequest', createGuard(base, sessions))
    // After the guard: only logged-in requests read the registry.
    guarded.addHook('onRequest', async () => { await list.refresh() })
    await guarded.register(serverAdapter.registerPlugin())
  })
}

/**
 * The queue dashboard (Bull Board) at QUEUE_BOARD_PATH, behind a login with an admin key (API_KEY
 * only) kept in a signed, httpOnly, SameSite=Strict cookie. Off when the path is set empty.
 */
export default fp(async function queueBoard (fastify) {
  const { config } = fastify
  const base = config.queueBoardPath
  if (base === null) return
  const ttlMs = config.QUEUE_BOARD_SESSION_HOURS * HOUR_MS
  const sessions = createBoardSessions({ apiKeys: config.apiKeys, secret: config.SESSION_SECRET, ttlMs })

  await fastify.register(async board => {
    await board.register(cookie, { secret: sessions.secret, hook: 'onRequest' })
    await board.register(formbody, { bodyLimit: 4096 })
    await board.register(boardLogin, { base, sessions, ttlMs })
    await registerBoard(board, base, sessions)
  }, { prefix: base })
}, { name: 'queue-board', dependencies: ['command-bus', 'rate-limit'], decorators: { fastify: ['redis', 'config'] } })
