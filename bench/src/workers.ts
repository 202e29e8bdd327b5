import { sleep, type Stack } from './harness.ts'

/** Starts `count` workers and gives back a function that stops them gracefully (SIGTERM). */
export function tempWorkers (stack: Stack, count: number, env: Record<string, string> = {}) {
  return async () => {
    const ws: Array<Awaited<ReturnType<Stack['addWorker']>>> = []
    for (let i = 0; i < count; i++) ws.push(await stack.addWorker(env))
    return async () => {
      for (const w of ws) w.proc.kill('SIGTERM')
      await Promise.race([Promise.all(ws.map(w => w.exited)), sleep(20_000)])
      for (const w of ws) if (w.proc.exitCode === null) w.proc.kill('SIGKILL')
    }
  }
}
