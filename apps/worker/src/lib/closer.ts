import type { Logger } from 'pino'

/**
 * An ordered shutdown: steps run one after another in the order they were added, each one even
 * when an earlier one failed (its error is logged with the step's name). `close()` is memoized:
 * every caller, the first and any concurrent or later one, gets the same promise.
 */
export interface Closer {
  add (step: string, fn: () => unknown): void
  close (): Promise<void>
  readonly closing: boolean
}

/** Creates an ordered, memoized shutdown (see {@link Closer}). */
export function createCloser (log: Logger): Closer {
  const steps: Array<{ step: string, fn: () => unknown }> = []
  let done: Promise<void> | undefined
  return {
    add (step, fn) { steps.push({ step, fn }) },
    get closing () { return done !== undefined },
    close () {
      done ??= (async () => {
        for (const { step, fn } of steps) {
          try {
            await fn()
          } catch (err) {
            log.error({ err, step }, 'shutdown step failed')
          }
        }
      })()
      return done
    }
  }
}
