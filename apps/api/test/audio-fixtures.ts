// Small audio files made by ffmpeg (installed by scripts/ensure-packages.sh) from a formula, so each
// test knows the sound it uploads: its length and the shape of its loudness.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** 440 Hz whose amplitude rises linearly from silence to full over `seconds`. */
export const RAMP = (seconds: number) => `0.8*sin(2*PI*440*t)*t/${seconds}`
/** Silence for the first half, then a steady 440 Hz tone. */
export const HALF_SILENT = (seconds: number) => `if(lt(t,${seconds / 2}),0,0.5*sin(2*PI*440*t))`

/** Encodes `expr` (an ffmpeg aevalsrc formula over t) for `seconds` as `ext` (wav, mp3, m4a, aac, ogg = Opus, oga = Vorbis). */
export async function audioFile (ext: 'wav' | 'mp3' | 'm4a' | 'aac' | 'ogg' | 'oga', seconds: number, expr: string): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'wss-audio-fixture-'))
  try {
    const codec = ext === 'ogg' ? ['-c:a', 'libopus'] : ext === 'oga' ? ['-c:a', 'libvorbis', '-f', 'ogg'] : []
    const out = join(dir, `sound.${ext}`)
    await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `aevalsrc=exprs='${expr}':d=${seconds}:s=44100`, ...codec, out])
    return await readFile(out)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
