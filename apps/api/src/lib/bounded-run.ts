// One run of ffmpeg or ffprobe on an upload: a child process (never a shell), killed past its time,
// its output bounded, so a hostile file can neither block the event loop nor fill memory.
import { spawn } from 'node:child_process'
import { AppError } from '@wss/shared'

/** The output went past the bound the caller set. */
export class OutputTooLarge extends Error {}

export interface BoundedRun {
  /** The program (a path, or a name looked up in PATH). */
  path: string
  /** What to call it in a 503, with the setting that names it: `ffmpeg (FFMPEG_PATH)`. */
  label: string
  /** What the run does to the audio, as its errors say it: `converted` (ffmpeg), `probed` (ffprobe reads its tracks). */
  action?: 'converted' | 'probed'
  timeoutMs: number
  /** Stdout past this many bytes stops the run (`OutputTooLarge`). */
  maxOutput: number
}

/** Runs the program with `args`; answers its stdout. A missing program is 503, a run past its time 413. */
export function boundedRun (run: BoundedRun, args: string[]): Promise<Buffer> {
  const action = run.action ?? 'converted'
  return new Promise((resolve, reject) => {
    const child = spawn(run.path, ['-hide_banner', '-v', 'error', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    const chunks: Buffer[] = []
    let size = 0
    let stderr = ''
    let failure: Error | undefined
    const stop = (err: Error) => {
      failure ??= err
      child.kill('SIGKILL')
    }
    const timer = setTimeout(() => stop(new AppError('PAYLOAD_TOO_LARGE',
      `The audio could not be ${action} by ${run.label} within AUDIO_CONVERT_TIMEOUT_MS (${run.timeoutMs} ms): send a shorter one`)), run.timeoutMs)
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > run.maxOutput) stop(new OutputTooLarge())
      else chunks.push(chunk)
    })
    child.stderr.on('data', (chunk: Buffer) => { if (stderr.length < 2000) stderr += chunk.toString('utf8') })
    child.on('error', err => {
      clearTimeout(timer)
      reject(new AppError('DEPENDENCY_UNAVAILABLE', `Audio cannot be ${action}: ${run.label} is not available on this API node`, undefined, { cause: err }))
    })
    child.on('close', code => {
      clearTimeout(timer)
      if (failure) reject(failure)
      else if (code === 0) resolve(Buffer.concat(chunks))
      else reject(new Error(`${run.label} exited with ${code}: ${stderr.trim().slice(0, 500)}`))
    })
  })
}
