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

interface PrismaLikeError {
  name?: string
  code?: string
  message?: string
  meta?: { driverAdapterError?: { cause?: { kind?: string } } }
}

/** True for Prisma errors that mean the database is unreachable (answered 503, not 500). */
export function isDatabaseUnavailableError (err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const e = err as PrismaLikeError
  if (e.name === 'PrismaClientInitializationError') return true
  if (e.name !== 'PrismaClientKnownRequestError' && e.name !== 'PrismaClientUnknownRequestError') return false
  // P1xxx are Prisma's connection-level errors (P1001 can't reach, P1008 timeout, P1017 closed...).
  if (typeof e.code === 'string' && e.code.startsWith('P1')) return true
  const kind = e.meta?.driverAdapterError?.cause?.kind
  if (kind !== undefined && UNAVAILABLE_KINDS.has(kind)) return true
  // pg's pool gives up acquiring a connection with this message.
  return /timeout exceeded when trying to connect|Connection terminated/i.test(e.message ?? '')
}

/** True when `err` is Prisma's unique-constraint violation (P2002). */
export function isUniqueViolation (err: unknown): boolean {
  return err instanceof Error && (err as PrismaLikeError).code === 'P2002'
}
