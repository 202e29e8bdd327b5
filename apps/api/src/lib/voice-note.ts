// Voice notes: every audio upload becomes what WhatsApp records, Opus in OGG, with its length and
// its waveform read from its decoded samples. ffmpeg decodes and encodes in a child process (never
// through a shell), each run bounded in time and in output, and the input read only as the format
// its bytes were sniffed as, so a hostile file can neither block the event loop nor fill memory.
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { AppError } from '@wss/shared'

export interface VoiceNote {
  /** OGG/Opus: the upload itself when it already was, else its conversion. */
  bytes: Buffer
  seconds: number
  /** 64 values 0–100: the mean loudness of each 64th of the note, relative to the loudest. */
  waveform: number[]
}

export interface VoiceNoteOptions {
  ffmpegPath: string
  /** Each ffmpeg run is killed past this. */
  timeoutMs: number
  /** Longer audio is refused (413); ffmpeg never reads much past it. */
  maxSeconds: number
  /** The converted file may not be larger (MAX_UPLOAD_MB). */
  maxBytes: number
}

const OPUS = 'audio/ogg; codecs=opus'
/** ffmpeg's demuxer for each accepted sniffed type: the input is never probed as anything else. */
const DEMUXER: Readonly<Record<string, string>> = {
  [OPUS]: 'ogg',
  'audio/mpeg': 'mp3',
  'audio/x-m4a': 'mov',
  'audio/mp4': 'mov',
  'audio/aac': 'aac',
  'audio/wav': 'wav'
}
/** The waveform is computed from mono 16-bit samples at this rate: plenty for 64 loudness values. */
const PCM_RATE = 8000
const WAVEFORM_BARS = 64

class TooLong extends Error {}

/** Runs ffmpeg with `args` (no shell); answers its stdout, at most `maxOutput` bytes. */
function ffmpeg (opts: VoiceNoteOptions, args: string[], maxOutput: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(opts.ffmpegPath, ['-hide_banner', '-nostdin', '-v', 'error', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    const chunks: Buffer[] = []
    let size = 0
    let stderr = ''
    let failure: Error | undefined
    const stop = (err: Error) => {
      failure ??= err
      child.kill('SIGKILL')
    }
    const timer = setTimeout(() => stop(new AppError('PAYLOAD_TOO_LARGE',
      `The audio could not be converted within AUDIO_CONVERT_TIMEOUT_MS (${opts.timeoutMs} ms): send a shorter one`)), opts.timeoutMs)
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > maxOutput) stop(new TooLong())
      else chunks.push(chunk)
    })
    child.stderr.on('data', (chunk: Buffer) => { if (stderr.length < 2000) stderr += chunk.toString('utf8') })
    child.on('error', err => {
      clearTimeout(timer)
      reject(new AppError('DEPENDENCY_UNAVAILABLE', 'Audio cannot be converted: ffmpeg (FFMPEG_PATH) is not available on this API node', undefined, { cause: err }))
    })
    child.on('close', code => {
      clearTimeout(timer)
      if (failure) reject(failure)
      else if (code === 0) resolve(Buffer.concat(chunks))
      else reject(new Error(`ffmpeg exited with ${code}: ${stderr.trim().slice(0, 500)}`))
    })
  })
}

/** 64 bars: each the mean absolute sample of its 64th of the note, scaled so the loudest is 100. */
export function waveformOf (pcm: Buffer): number[] {
  const samples = Math.floor(pcm.length / 2)
  const means: number[] = []
  for (let bar = 0; bar < WAVEFORM_BARS; bar++) {
    const from = Math.floor((bar * samples) / WAVEFORM_BARS)
    const to = Math.floor(((bar + 1) * samples) / WAVEFORM_BARS)
    let sum = 0
    for (let i = from; i < to; i++) sum += Math.abs(pcm.readInt16LE(i * 2))
    means.push(to > from ? sum / (to - from) : 0)
  }
  const loudest = Math.max(...means)
  return means.map(m => (loudest === 0 ? 0 : Math.floor((100 * m) / loudest)))
}

/** Converts audio uploads to voice notes, at most one per CPU core at a time on this node. */
export function createVoiceNotes (opts: VoiceNoteOptions) {
  const slots = availableParallelism()
  let running = 0
  const waiting: Array<() => void> = []
  async function inTurn<T> (work: () => Promise<T>): Promise<T> {
    if (running >= slots) await new Promise<void>(resolve => waiting.push(resolve))
    else running++
    try {
      return await work()
    } finally {
      const next = waiting.shift()
      if (next) next()
      else running--
    }
  }

  async function convert (dir: string, bytes: Buffer, sniffedMime: string): Promise<VoiceNote> {
    const label = sniffedMime
    const input = join(dir, 'input')
    await writeFile(input, bytes)
    // Reading a little past the limit is enough to know the audio is longer than it.
    const within = ['-t', String(opts.maxSeconds + 1), '-map', '0:a:0']
    const read = (demuxer: string, path: string) => ['-protocol_whitelist', 'file', '-f', demuxer, '-i', path, ...within]
    let opus = bytes
    if (sniffedMime !== OPUS) {
      opus = await ffmpeg(opts, [
        ...read(DEMUXER[sniffedMime]!, input), '-map_metadata', '-1', '-ac', '1', '-ar', '48000',
        '-c:a', 'libopus', '-b:a', '32k', '-application', 'voip', '-f', 'ogg', 'pipe:1'
      ], opts.maxBytes).catch(err => { throw refusal(err, label, opts) })
    }
    const note = join(dir, 'note.ogg')
    if (opus !== bytes) await writeFile(note, opus)
    const pcm = await ffmpeg(opts, [...read('ogg', opus === bytes ? input : note), '-ac', '1', '-ar', String(PCM_RATE), '-f', 's16le', 'pipe:1'],
      (opts.maxSeconds + 2) * PCM_RATE * 2).catch(err => { throw refusal(err, label, opts) })
    const exact = pcm.length / 2 / PCM_RATE
    if (exact === 0) throw new AppError('UNSUPPORTED_MEDIA_TYPE', `The audio (${label}) holds no sound`)
    const seconds = Math.max(1, Math.round(exact))
    if (seconds > opts.maxSeconds) throw tooLong(opts)
    return { bytes: opus, seconds, waveform: waveformOf(pcm) }
  }

  return {
    /**
     * The voice note of an audio upload whose bytes were sniffed as `sniffedMime` (one of the
     * accepted audio types); 415 when ffmpeg cannot decode it, 413 when it lasts too long.
     */
    async fromUpload (bytes: Buffer, sniffedMime: string): Promise<VoiceNote> {
      return await inTurn(async () => {
        const dir = await mkdtemp(join(tmpdir(), 'wss-voice-'))
        try {
          return await convert(dir, bytes, sniffedMime)
        } finally {
          await rm(dir, { recursive: true, force: true })
        }
      })
    }
  }
}

function tooLong (opts: VoiceNoteOptions): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `The audio lasts more than AUDIO_MAX_SECONDS (${opts.maxSeconds} s)`)
}

function refusal (err: unknown, label: string, opts: VoiceNoteOptions): unknown {
  if (err instanceof TooLong) return tooLong(opts)
  if (err instanceof AppError) return err
  return new AppError('UNSUPPORTED_MEDIA_TYPE', `The audio's bytes are ${label} but could not be decoded`, undefined, { cause: err })
}

export type VoiceNotes = ReturnType<typeof createVoiceNotes>
