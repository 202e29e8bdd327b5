import { io, type Socket } from 'socket.io-client'
import WebSocket from 'ws'
import { eventually } from './stack.ts'

interface Teardown { teardown (fn: () => unknown): void }
export interface Seen { event: string, data: any }

/** Collects events and waits for the first matching one. */
function collector (seen: Seen[]) {
  return {
    seen,
    async waitFor (pred: (e: Seen) => boolean, timeoutMs = 20_000): Promise<Seen> {
      let found: Seen | undefined
      await eventually(() => { found = seen.find(pred); return !!found }, timeoutMs, 50)
      if (!found) throw new Error(`event not received in ${timeoutMs} ms`)
      return found
    }
  }
}

/**
 * A Socket.IO client of one API node, authenticated with the key. WebSocket only unless
 * `defaultTransports` (long-polling first, then the upgrade, as browsers connect).
 */
export async function socketIoClient (t: Teardown, url: string, apiKey: string, query?: Record<string, string>, opts: { defaultTransports?: boolean } = {}) {
  const seen: Seen[] = []
  const socket: Socket = io(url, { auth: { apiKey }, query, reconnection: true, ...(opts.defaultTransports ? {} : { transports: ['websocket'] }) })
  socket.onAny((event: string, data: unknown) => seen.push({ event, data }))
  t.teardown(() => socket.close())
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', err => reject(err))
  })
  return { socket, ...collector(seen) }
}

/** A plain WebSocket client of GET /api/events. */
export async function wsClient (t: Teardown, url: string, apiKey: string) {
  const seen: Seen[] = []
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/events?apiKey=${encodeURIComponent(apiKey)}`)
  ws.on('message', data => {
    const frame = JSON.parse(data.toString()) as { event?: string, data?: unknown }
    if (frame.event) seen.push({ event: frame.event, data: frame.data })
  })
  t.teardown(() => ws.terminate())
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
  return { ws, ...collector(seen) }
}
