import type { WASocket } from '@whiskeysockets/baileys'

/** Ends a Baileys socket and waits (briefly) until its WebSocket is really closed. */
export async function closeSocket (sock: WASocket | undefined) {
  if (!sock) return
  await Promise.race([sock.end(undefined), new Promise(resolve => setTimeout(resolve, 2000))]).catch(() => undefined)
}
