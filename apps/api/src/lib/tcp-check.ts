import { connect } from 'node:net'

/**
 * Resolves when a TCP connection to the URL's host and port opens within `timeoutMs`.
 * A stand-in database check until @wss/db offers a query-level one (`SELECT 1`).
 */
export function createTcpCheck (url: string, defaultPort: number, timeoutMs = 1000): () => Promise<void> {
  const { hostname, port } = new URL(url)
  const host = hostname.replace(/^\[|\]$/g, '') || '127.0.0.1'
  const target = { host, port: port === '' ? defaultPort : Number(port) }
  return () => new Promise<void>((resolve, reject) => {
    const socket = connect(target)
    socket.setTimeout(timeoutMs)
    socket.once('connect', () => { socket.destroy(); resolve() })
    socket.once('timeout', () => { socket.destroy(); reject(new Error(`connect to ${host}:${target.port} timed out`)) })
    socket.once('error', err => { socket.destroy(); reject(err) })
  })
}
