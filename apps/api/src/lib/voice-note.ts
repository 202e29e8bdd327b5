// Voice notes: every audio upload becomes what WhatsApp records, Opus in OGG, its tags dropped, with
// its length and its waveform read from its decoded samples. ffmpeg and ffprobe run in a child
// process (never through a shell), each run bounded in time and in output (lib/bounded-run.ts), and
// the input read only as the format its bytes were sniffed as, so a hostile file can neither block
// the event loop nor fill memory.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { AppError } from '@wss/shared'
import { boundedRun, OutputTooLarge } from './bounded-run.ts'

export interface VoiceNote {
  /** OGG/Opus without tags: an OGG/Opus upload's own packets re-muxed, any other audio converted. */
  bytes: Buffer
  seconds: number
  /** 64 values 0–100: the mean loudness of each 64th of the note, relative to the loudest. */
  waveform: number[]
}

export interface VoiceNoteOptions {
  ffmpegPath: string
  /** Reads the tracks of an MP4 whose brand says video (FFPROBE_PATH). */
  ffprobePath: string
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
/**
 * Types `file-type` gives an MP4-family file by its brand (`mp42`, `isom`, `qt  `, `3gp…`): an
 * M4A written under such a brand is audio all the same when its only tracks are audio.
 */
const MP4_BRANDED_AS_VIDEO: ReadonlySet<string> = new Set(['video/mp4', 'video/x-m4v', 'video/quicktime', 'video/3gpp', 'video/3gpp2'])
/** ffprobe's answer is a few lines per track; a file with more tracks than this bound holds is refused. */
const MAX_PROBE_OUTPUT = 64 * 1024
/** The waveform is computed from mono 16-bit samples at this rate: plenty for 64 loudness values. */
const PCM_RATE = 8000
const WAVEFORM_BARS = 64

/** Runs ffmpeg with `args`; answers its stdout, at most `maxOutput` bytes. */
function ffmpeg (opts: VoiceNoteOptions, args: string[], maxOutput: number): Promise<Buffer> {
  return boundedRun({ path: opts.ffmpegPath, label: 'ffmpeg (FFMPEG_PATH)', timeoutMs: opts.timeoutMs, maxOutput }, ['-nostdin', ...args])
}

interface ProbedStream { codec_type?: string, disposition?: { attached_pic?: number } }

/**
 * Whether the MP4-family file at `path` holds audio and no video: ffprobe lists its tracks, read
 * with the MP4/QuickTime demuxer only. A cover picture (an attached picture) is not a video.
 */
async function audioOnlyMp4 (opts: VoiceNoteOptions, path: string): Promise<boolean> {
  const out = await boundedRun({ path: opts.ffprobePath, label: 'ffprobe (FFPROBE_PATH)', action: 'probed', timeoutMs: opts.timeoutMs, maxOutput: MAX_PROBE_OUTPUT }, [
    '-protocol_whitelist', 'file', '-f', 'mov', '-show_entries', 'stream=codec_type:stream_disposition=attached_pic', '-of', 'json', path
  ]).catch((err: unknown) => {
    if (err instanceof AppError) throw err
    return null // unreadable, or too many tracks: not audio
  })
  if (out === null) return false
  let streams: ProbedStream[]
  try {
    streams = (JSON.parse(out.toString('utf8')) as { streams?: ProbedStream[] }).streams ?? []
  } catch {
    return false
  }
  const video = streams.some(s => s.codec_type === 'video' && s.disposition?.attached_pic !== 1)
  return !video && streams.some(s => s.codec_type === 'audio')
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

/** The voice note of the upload written to `dir`: encoded when it is not OGG/Opus, re-muxed without tags, measured. */
async function convert (opts: VoiceNoteOptions, dir: string, bytes: Buffer, sniffedMime: string): Promise<VoiceNote> {
  const label = sniffedMime
  const input = join(dir, 'input')
  await writeFile(input, bytes)
  // Reading a little past the limit is enough to know the audio is longer than it.
  const within = ['-t', String(opts.maxSeconds + 1), '-map', '0:a:0']
  const read = (demuxer: string, path: string) => ['-protocol_whitelist', 'file', '-f', demuxer, '-i', path, ...within]
  // Anything but OGG/Opus is encoded first (the encoder names itself in a tag of its output).
  let opusIn = input
  if (sniffedMime !== OPUS) {
    const encoded = await ffmpeg(opts, [
      ...read(DEMUXER[sniffedMime]!, input), '-map_metadata', '-1', '-ac', '1', '-ar', '48000',
      '-c:a', 'libopus', '-b:a', '32k', '-application', 'voip', '-f', 'ogg', 'pipe:1'
    ], opts.maxBytes).catch(err => { throw refusal(err, label, opts) })
    opusIn = join(dir, 'encoded.ogg')
    await writeFile(opusIn, encoded)
  }
  // Then re-muxed, never re-encoded: the same Opus packets without the tags (title, artist,
  // encoder, comments, pictures) that would otherwise reach every viewer.
  const opus = await ffmpeg(opts, [
    ...read('ogg', opusIn), '-map_metadata', '-1', '-map_chapters', '-1', '-c:a', 'copy', '-fflags', '+bitexact', '-f', 'ogg', 'pipe:1'
  ], opts.maxBytes).catch(err => { throw refusal(err, label, opts) })
  const note = join(dir, 'note.ogg')
  await writeFile(note, opus)
  const pcm = await ffmpeg(opts, [...read('ogg', note), '-ac', '1', '-ar', String(PCM_RATE), '-f', 's16le', 'pipe:1'],
    (opts.maxSeconds + 2) * PCM_RATE * 2).catch(err => { throw refusal(err, label, opts) })
  const exact = pcm.length / 2 / PCM_RATE
  if (exact === 0) throw new AppError('UNSUPPORTED_MEDIA_TYPE', `The audio (${label}) holds no sound`)
  const seconds = Math.max(1, Math.round(exact))
  if (seconds > opts.maxSeconds) throw tooLong(opts)
  return { bytes: opus, seconds, waveform: waveformOf(pcm) }
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

  async function inTempDir<T> (work: (dir: string) => Promise<T>): Promise<T> {
    return await inTurn(async () => {
      const dir = await mkdtemp(join(tmpdir(), 'wss-voice-'))
      try {
        return await work(dir)
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })
  }

  return {
    /**
     * The audio type of an upload sniffed as `sniffedMime`: an MP4-family file branded as video
     * (`mp42`, `isom`, …) whose tracks are audio only is `audio/mp4`; a real video, or any other
     * type, is answered as sniffed.
     */
    async audioType (bytes: Buffer, sniffedMime: string | undefined): Promise<string | undefined> {
      if (sniffedMime === undefined || !MP4_BRANDED_AS_VIDEO.has(sniffedMime)) return sniffedMime
      const audio = await inTempDir(async dir => {
        const input = join(dir, 'input')
        await writeFile(input, bytes)
        return await audioOnlyMp4(opts, input)
      })
      return audio ? 'audio/mp4' : sniffedMime
    },

    /**
     * The voice note of an audio upload whose bytes were sniffed as `sniffedMime` (one of the
     * accepted audio types); 415 when ffmpeg cannot decode it, 413 when it lasts too long.
     */
    async fromUpload (bytes: Buffer, sniffedMime: string): Promise<VoiceNote> {
      return await inTempDir(dir => convert(opts, dir, bytes, sniffedMime))
    }
  }
}

function tooLong (opts: VoiceNoteOptions): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `The audio lasts more than AUDIO_MAX_SECONDS (${opts.maxSeconds} s)`)
}

function refusal (err: unknown, label: string, opts: VoiceNoteOptions): unknown {
  if (err instanceof OutputTooLarge) return tooLong(opts)
  if (err instanceof AppError) return err
  return new AppError('UNSUPPORTED_MEDIA_TYPE', `The audio's bytes are ${label} but could not be decoded`, undefined, { cause: err })
}

export type VoiceNotes = ReturnType<typeof createVoiceNotes>
