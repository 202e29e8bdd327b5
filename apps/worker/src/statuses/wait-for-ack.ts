import type { BinaryNode, WASocket, proto } from '@whiskeysockets/baileys'
import { AppError } from '@wss/shared'

/** Waits for the server's ack of a message id on this socket: resolves the error code, or null when accepted. */
export function waitForAck (sock: WASocket, messageId: string, timeoutMs: number): { promise: Promise<string | null>, cancel (): void } {
  let onAck!: (node: BinaryNode) => void
  let onUpsert!: (arg: { messages: proto.IWebMessageInfo[] }) => void
  let timer!: NodeJS.Timeout
  const cleanup = () => {
    clearTimeout(timer)
    sock.ws.off('CB:ack,class:message', onAck)
    sock.ev.off('messages.upsert', onUpsert)
  }
  const promise = new Promise<string | null>((resolve, reject) => {
    onAck = node => {
      if (node.attrs.id !== messageId) return
      cleanup()
      resolve(node.attrs.error ?? null)
    }
    // An error ack arriving while the send's own upsert is buffered is folded into it (status ERROR).
    onUpsert = ({ messages }) => {
      for (const m of messages) {
        if (m.key?.id === messageId && m.status === 0 && m.messageStubParameters?.length) {
          cleanup()
          resolve(String(m.messageStubParameters[0]))
        }
      }
    }
    sock.ws.on('CB:ack,class:message', onAck)
    sock.ev.on('messages.upsert', onUpsert)
    timer = setTimeout(() => { cleanup(); reject(new AppError('WORKER_TIMEOUT', 'WhatsApp did not acknowledge the status in time')) }, timeoutMs)
  })
  // Awaited only after sendMessage returns: a timeout before then must not be an unhandled rejection.
  promise.catch(() => undefined)
  return { promise, cancel: cleanup }
}
