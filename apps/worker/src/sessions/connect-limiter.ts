/** Gives a held slot back; calling it again does nothing. */
export type ReleaseSlot = () => void

interface Waiter { grant (release: ReleaseSlot): void }

/**
 * The connection attempts one worker has in flight (socket opened, not yet `open`, a QR/pairing
 * code or closed): at most `limit` at once, the others wait their turn in order. After a failover
 * or a restart thousands of sessions are claimed together; connecting them all at once froze the
 * event loop (bench "fleet"), waiting here keeps it responsive.
 *
 * A slot not given back within `holdMs` is taken back (a handshake that never ends cannot wedge
 * the queue).
 */
export class ConnectLimiter {
  private held = 0
  private readonly queue: Waiter[] = []

  constructor (readonly limit: number, private readonly holdMs = 60_000) {}

  get inFlight () { return this.held }
  get waiting () { return this.queue.length }

  /**
   * Resolves with the slot's release once one is free, or with null when `signal` aborts first
   * (the session stopped while waiting: its place goes to the next).
   */
  acquire (signal: AbortSignal): Promise<ReleaseSlot | null> {
    if (signal.aborted) return Promise.resolve(null)
    if (this.held < this.limit) return Promise.resolve(this.take())
    return new Promise(resolve => {
      const waiter: Waiter = {
        grant: release => { signal.removeEventListener('abort', onAbort); resolve(release) }
      }
      const onAbort = () => {
        const i = this.queue.indexOf(waiter)
        if (i >= 0) this.queue.splice(i, 1)
        resolve(null)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.queue.push(waiter)
    })
  }

  private take (): ReleaseSlot {
    this.held++
    let done = false
    const release = () => {
      if (done) return
      done = true
      clearTimeout(timer)
      this.held--
      this.next()
    }
    const timer = setTimeout(release, this.holdMs)
    timer.unref()
    return release
  }

  private next () {
    while (this.held < this.limit && this.queue.length > 0) this.queue.shift()!.grant(this.take())
  }
}

/**
 * One session's place in the limiter: at most one slot held or awaited at a time. Taking a slot
 * gives back the one held (a reconnect replaces the attempt) and cancels an older wait.
 */
export class SessionSlot {
  private release?: ReleaseSlot
  private abort?: AbortController

  constructor (private readonly limiter: ConnectLimiter) {}

  /** Waits for a slot; false when it was given up meanwhile (stopped, or a newer attempt). */
  async take (): Promise<boolean> {
    this.give()
    const abort = new AbortController()
    this.abort = abort
    const release = await this.limiter.acquire(abort.signal)
    if (this.abort !== abort || !release) {
      release?.()
      return false
    }
    this.abort = undefined
    this.release = release
    return true
  }

  /** Gives the held slot back and cancels a wait (open, QR shown, closed, stopped). */
  give () {
    this.abort?.abort()
    this.abort = undefined
    this.release?.()
    this.release = undefined
  }
}
