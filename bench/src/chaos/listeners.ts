// Event clients of the chaos run: a Socket.IO client and a plain WebSocket client on every API
// node. Each records every event with its arrival time and the times it was disconnected, and
// reconnects by itself (an API node restart drops them).
import { io, type Socket } from 'socket.io-client'
import { WebSocket } from 'ws'
import type { Stack } from '../harness.ts'

export interface Received { event: string, data: any, at: number }

export interface Listener {
  name: string
  events: Received[]
  /** Periods without a connection after the first: [from, to] (to = Infinity while still down). */
  gaps (): Array<[number, number]>
  connects: number
  close (): void
}

function tracker (name: string): Listener & { up (): void, down (): void, closing: boolean } {
  let downSince: number | null = Date.now()
  const l = {
    name,
    events: [] as Received[],
    closedGaps: [] as Array<[number, number]>,
    gaps: (): Array<[number, number]> => downSince !== null && l.connects > 0 ? [...l.closedGaps, [downSince, Infinity]] : l.closedGaps,
    connects: 0,
    /** Set when the run closes the client: that close is no gap. */
    closing: false,
    close () {},
    up () {
      l.connects++
      if (downSince !== null && l.connects > 1) l.closedGaps.push([downSince, Date.now()])
      downSince = null
    },
    down () { if (downSince === null && !l.closing) downSince = Date.now() }
  }
  return l
}

/** A Socket.IO client of API node `node`; Socket.IO reconnects by itself. */
function socketIoListener (stack: Stack, node: number): Listener {
  const l = tracker(`socket.io@api-${node + 1}`)
  const socket: Socket = io(stack.apis[node]!.url, { auth: { apiKey: stack.apiKey }, transports: ['websocket'], reconnectionDelay: 200, reconnectionDelayMax: 1000 })
  socket.on('connect', () => l.up())
  socket.on('disconnect', () => l.down())
  socket.onAny((event: string, data: unknown) => { l.events.push({ event, data, at: Date.now() }) })
  l.close = () => { l.closing = true; socket.close() }
  return l
}

/** A WebSocket client of `/api/events` on API node `node`, reconnecting every 200 ms while down. */
function webSocketListener (stack: Stack, node: number): Listener {
  const l = tracker(`websocket@api-${node + 1}`)
  let closed = false
  const open = () => {
    if (closed) return
    const ws = new WebSocket(stack.apis[node]!.url.replace('http', 'ws') + '/api/events', { headers: { 'x-api-key': stack.apiKey } })
    ws.on('open', () => l.up())
    ws.on('message', raw => {
      const frame = JSON.parse(String(raw)) as { event?: string, data?: unknown }
      if (frame.event) l.events.push({ event: frame.event, data: frame.data, at: Date.now() })
    })
    ws.on('error', () => undefined)
    ws.on('close', () => { l.down(); setTimeout(open, 200) })
    l.close = () => { closed = true; l.closing = true; ws.close() }
  }
  open()
  return l
}

/** Both kinds of client on every API node. */
export function startListeners (stack: Stack): Listener[] {
  return stack.apis.flatMap((_, node) => [socketIoListener(stack, node), webSocketListener(stack, node)])
}
