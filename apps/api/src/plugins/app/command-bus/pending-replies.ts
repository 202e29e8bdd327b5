import type { FastifyBaseLogger } from 'fastify'
import { AppError, isCommandResult, parseCommandReply, type CommandName, type CommandResult } from '@wss/shared'

interface Pending {
  name: CommandName
  resolve: (data: unknown) => void
  reject: (err: Error) => void
  timer?: NodeJS.Timeout
}

/** The sends waiting for their worker's reply, by request id. */
export function createPendingReplies (log: FastifyBaseLogger) {
  const pending = new Map<string, Pending>()

  function settle (requestId: string): void {
    const entry = pending.get(requestId)
    if (entry?.timer !== undefined) clearTimeout(entry.timer)
    pending.delete(requestId)
  }

  // Registered before the job exists, so even an instant reply finds its request.
  function expect<K extends CommandName> (requestId: string, name: K): Promise<CommandResult<K>> {
    return new Promise<CommandResult<K>>((resolve, reject) => {
      pending.set(requestId, { name, resolve: resolve as (data: unknown) => void, reject })
    })
  }

  function startTimer (requestId: string, waitMs: number, message: string): void {
    const entry = pending.get(requestId)
    if (entry === undefined) return
    entry.timer = setTimeout(() => {
      settle(requestId)
      entry.reject(new AppError('WORKER_TIMEOUT', message))
    }, waitMs)
    entry.timer.unref()
  }

  // A message on the reply channel: settles its request with the result or the coded error.
  function receive (message: string): void {
    const reply = parseCommandReply(message)
    if (reply === null) {
      log.warn({ bytes: Buffer.byteLength(message) }, 'dropped invalid command reply')
      return
    }
    const waiting = pending.get(reply.requestId)
    if (waiting === undefined) {
      log.debug({ requestId: reply.requestId }, 'reply after its request gave up')
      return
    }
    settle(reply.requestId)
    if (!reply.ok) {
      waiting.reject(new AppError(reply.code, reply.message))
    } else if (isCommandResult(waiting.name, reply.data)) {
      waiting.resolve(reply.data)
    } else {
      log.error({ requestId: reply.requestId, command: waiting.name }, 'worker answered a result that is not the command\'s')
      waiting.reject(new AppError('INTERNAL'))
    }
  }

  function rejectAll (err: () => Error): void {
    for (const [requestId, entry] of pending) {
      settle(requestId)
      entry.reject(err())
    }
  }

  return { expect, startTimer, settle, receive, rejectAll }
}
