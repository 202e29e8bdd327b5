// Driver adapter error kinds that mean "the database cannot be used right now", as opposed
// to a query the database rejected.
const UNAVAILABLE_KINDS = new Set([
  'DatabaseNotReachable',
  'DatabaseDoesNotExist',
  'DatabaseAccessDenied',
  'AuthenticationFailed',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
  'TlsConnectionError'
])

/**
 * SQLSTATEs a server sends when it cannot serve this connection, not because of the query: class 08
 * (connection exception), 57P01-57P03 (the server is shutting down, crashed, or not accepting
 * connections yet: `pg_terminate_backend`, `pg_ctl restart`) and 53300 (too many connections).
 */
const UNAVAILABLE_SQLSTATE = /^(08|57P0[123]$|53300$)/

interface PrismaLikeError {
  name?: string
  code?: string
  message?: string
  meta?: { driverAdapterError?: { cause?: { kind?: string, originalCode?: string, code?: string } } }
}

/** True for Prisma errors that mean the database is unreachable (answered 503, not 500). */
export function isDatabaseUnavailableError (err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const e = err as PrismaLikeError
  if (e.name === 'PrismaClientInitializationError') return true
  if (e.name !== 'PrismaClientKnownRequestError' && e.name !== 'PrismaClientUnknownRequestError') return false
  // P1xxx are Prisma's connection-level errors (P1001 can't reach, P1008 timeout, P1017 closed...).
  if (typeof e.code === 'string' && e.code.startsWith('P1')) return true
  const cause = e.meta?.driverAdapterError?.cause
  if (cause?.kind !== undefined && UNAVAILABLE_KINDS.has(cause.kind)) return true
  const sqlState = cause?.originalCode ?? cause?.code
  if (typeof sqlState === 'string' && UNAVAILABLE_SQLSTATE.test(sqlState)) return true
  // pg's pool gives up acquiring a connection with this message.
  return /timeout exceeded when trying to connect|Connection terminated/i.test(e.message ?? '')
}

/** True when `err` is Prisma's unique-constraint violation (P2002). */
export function isUniqueViolation (err: unknown): boolean {
  return err instanceof Error && (err as PrismaLikeError).code === 'P2002'
}
