import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type Server, type ServerResponse } from 'node:http'
import { ErrorCodes, type ErrorCode } from '@wss/shared'
import type { Logger } from 'pino'

export interface MetricsServerOptions {
  port: number
  /** The bearer token a scraper must present (METRICS_TOKEN). */
  token: string
  /** The exposition text and its content type, built per scrape. */
  render (): Promise<{ contentType: string, body: string }>
  logger: Logger
}

const BEARER = /^Bearer\s+(\S+)\s*$/i

/** Whether the request carries the token; digests of equal length are compared in constant time. */
function authorized (header: string | undefined, token: string): boolean {
  const presented = header === undefined ? undefined : BEARER.exec(header)?.[1]
  if (presented === undefined || presented.length > 1024) return false
  const digest = (s: string) => createHash('sha256').update(s).digest()
  return timingSafeEqual(digest(presented), digest(token))
}

function reply (res: ServerResponse, code: ErrorCode, error: string) {
  res.writeHead(ErrorCodes[code], { 'content-type': 'application/json; charset=utf-8' })
  res.end(JSON.stringify({ success: false, error, code }))
}

/**
 * The worker side's `GET /metrics` (a pool's, or a standalone worker process's): the same bearer
 * token rule as the API's, errors in the API's envelope, anything else 404. A port that cannot be
 * opened is logged and leaves the process without metrics (resolves undefined): it never stops the
 * sessions.
 */
export async function startMetricsServer (opts: MetricsServerOptions): Promise<Server | undefined> {
  const log = opts.logger.child({ part: 'metrics' })
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) return reply(res, 'ROUTE_NOT_FOUND', 'Only GET /metrics is served here')
    if (!authorized(req.headers.authorization, opts.token)) return reply(res, 'UNAUTHORIZED', 'Missing or invalid metrics token (Authorization: Bearer METRICS_TOKEN)')
    opts.render().then(({ contentType, body }) => {
      res.writeHead(200, { 'content-type': contentType })
      res.end(req.method === 'HEAD' ? undefined : body)
    }, (err: unknown) => {
      log.error({ err }, 'metrics could not be collected')
      reply(res, 'DEPENDENCY_UNAVAILABLE', 'Metrics could not be collected')
    })
  })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(opts.port, () => { server.off('error', reject); resolve() })
    })
  } catch (err) {
    log.error({ err, port: opts.port }, 'metrics port could not be opened; no metrics from this process')
    return undefined
  }
  log.info({ port: opts.port }, 'metrics served at /metrics')
  return server
}
