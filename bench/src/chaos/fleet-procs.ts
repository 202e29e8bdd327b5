// The chaos run's processes kept at strength as a process manager would: a worker that exits is
// replaced after a second; paused workers are tracked so a fault does not pick them twice.
import { sleep, type Stack } from '../harness.ts'

type Worker = Awaited<ReturnType<Stack['addWorker']>>

export function workerPool (stack: Stack, size: number, log: (line: string) => void) {
  const live = new Map<string, Worker>()
  const paused = new Set<string>()
  let stopping = false
  let starts = 0

  const start = async (): Promise<void> => {
    const w = await stack.addWorker()
    starts++
    live.set(w.id, w)
    void w.exited.then(async code => {
      live.delete(w.id)
      paused.delete(w.id)
      if (stopping) return
      log(`worker ${w.id} exited (${code ?? 'signal'}); a new one starts in 1 s`)
      await sleep(1000)
      if (!stopping) await start().catch(err => log(`worker restart failed: ${(err as Error).message}`))
    })
  }

  return {
    async fill () { while (live.size < size) await start() },
    /** A running (not paused) worker chosen by `index`. */
    pick (index: number): Worker | undefined {
      const running = [...live.values()].filter(w => !paused.has(w.id))
      return running[index % Math.max(1, running.length)]
    },
    pause (w: Worker) { paused.add(w.id); w.proc.kill('SIGSTOP') },
    resume (w: Worker) { paused.delete(w.id); w.proc.kill('SIGCONT') },
    get starts () { return starts },
    get size () { return live.size },
    async stop () {
      stopping = true
      for (const w of live.values()) { if (paused.has(w.id)) w.proc.kill('SIGCONT'); w.proc.kill('SIGTERM') }
      await Promise.race([Promise.all([...live.values()].map(w => w.exited)), sleep(20_000)])
      for (const w of live.values()) w.proc.kill('SIGKILL')
    }
  }
}

export type WorkerPool = ReturnType<typeof workerPool>
