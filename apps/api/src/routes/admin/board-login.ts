import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppError } from '@wss/shared'
import type { BoardSessions } from '../../lib/board-session.ts'
import { LOGIN_PAGE_HEADERS, loginPage, type LOGIN_MESSAGES } from '../../lib/board-login-page.ts'

export const BOARD_COOKIE = 'wss_board'

export interface BoardLoginOptions {
  /** QUEUE_BOARD_PATH: the board's root; these routes sit below it. */
  base: string
  sessions: BoardSessions
  ttlMs: number
}

/** Whether the client wants a page rather than the JSON envelope (a browser's form post does). */
const wantsHtml = (request: FastifyRequest) => (request.headers.accept ?? '').includes('text/html')

/**
 * A cross-site form post carries its site's Origin; a same-origin one ours. SameSite=Strict
 * already keeps the cookie off cross-site requests; this keeps a login from being forced.
 */
function sameOrigin (request: FastifyRequest): boolean {
  const origin = request.headers.origin
  return typeof origin === 'string' && origin === `${request.protocol}://${request.host}`
}

/** The dashboard's login and logout: `GET|POST {base}/login`, `GET|POST {base}/logout`. */
const boardLogin: FastifyPluginAsyncTypebox<BoardLoginOptions> = async (fastify, opts) => {
  const { base, sessions } = opts
  const loginUrl = `${base}/login`
  const page = (reply: FastifyReply, status: number, message?: keyof typeof LOGIN_MESSAGES) =>
    reply.code(status).headers(LOGIN_PAGE_HEADERS).send(loginPage(loginUrl, message))

  fastify.get('/login', {
    schema: { hide: true, querystring: Type.Object({ loggedOut: Type.Optional(Type.String({ maxLength: 8 })) }) }
  }, async (request, reply) => page(reply, 200, request.query.loggedOut === undefined ? undefined : 'loggedOut'))

  fastify.post('/login', {
    // Key guessing counts against the same per-IP limit as the API.
    onRequest: fastify.rateLimit(),
    schema: {
      hide: true,
      body: Type.Object({ key: Type.String({ minLength: 1, maxLength: 1024 }) })
    }
  }, async (request, reply) => {
    if (!sameOrigin(request)) throw new AppError('FORBIDDEN', 'Cross-origin login refused: post the form from the dashboard\'s own page')
    const value = sessions.issue(request.body.key)
    if (value === null) {
      request.log.info({ board: 'login' }, 'dashboard login refused')
      if (wantsHtml(request)) return page(reply, 401, 'invalid')
      throw new AppError('UNAUTHORIZED', 'Not an admin API key')
    }
    reply.setCookie(BOARD_COOKIE, value, {
      path: base,
      httpOnly: true,
      sameSite: 'strict',
      secure: 'auto',
      signed: true,
      maxAge: Math.floor(opts.ttlMs / 1000)
    })
    request.log.info({ board: 'login' }, 'dashboard login')
    return reply.header('cache-control', 'no-store').redirect(base, 303)
  })

  // Logging out only clears our own cookie, so a GET (the board's menu link) is safe.
  fastify.route({
    method: ['GET', 'POST'],
    url: '/logout',
    schema: { hide: true },
    handler: async (_request, reply) => {
      reply.clearCookie(BOARD_COOKIE, { path: base, httpOnly: true, sameSite: 'strict', secure: 'auto' })
      return reply.header('cache-control', 'no-store').redirect(`${loginUrl}?loggedOut=1`, 303)
    }
  })
}

export default boardLogin
