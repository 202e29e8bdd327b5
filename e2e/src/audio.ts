// Small audio files made by ffmpeg (installed by scripts/ensure-packages.sh) from a formula, so a
// test knows the sound it uploads: its length and the shape of its loudness.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

/** Silence for the first half, then a steady 440 Hz tone. */
export const HALF_SILENT = (seconds: number) => `if(lt(t,${seconds / 2}),0,0.5*sin(2*PI*440*t))`

/** Encodes `expr` (an ffmpeg aevalsrc formula over t) for `seconds` as WAV, MP3 or OGG/Opus, with these tags. */
export async function audioFile (ext: 'wav' | 'mp3' | 'ogg', seconds: number, expr: string, tags: Record<string, string> = {}): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'wss-e2e-audio-'))
  try {
    const out = join(dir, `sound.${ext}`)
    const codec = [...(ext === 'ogg' ? ['-c:a', 'libopus'] : []), ...Object.entries(tags).flatMap(([k, v]) => ['-metadata', `${k}=${v}`])]
    await promisify(execFile)('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `aevalsrc=exprs='${expr}':d=${seconds}:s=44100`, ...codec, out])
    return await readFile(out)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
