import t from 'tap'
import { waveformOf } from '../../src/lib/voice-note.ts'

/** 16-bit little-endian mono PCM from sample values. */
const pcm = (samples: number[]) => {
  const out = Buffer.alloc(samples.length * 2)
  samples.forEach((s, i) => out.writeInt16LE(s, i * 2))
  return out
}

t.test('the waveform is 64 bars of mean loudness, the loudest 100', async t => {
  // 64 blocks of 10 samples: block i alternates ±100·i, so its mean loudness is 100·i.
  const rising = pcm(Array.from({ length: 640 }, (_, n) => (n % 2 === 0 ? 1 : -1) * 100 * Math.floor(n / 10)))
  t.same(waveformOf(rising), Array.from({ length: 64 }, (_, i) => Math.floor((100 * i) / 63)))
  t.same(waveformOf(pcm(new Array(1000).fill(0))), new Array(64).fill(0), 'silence is flat, not NaN')
  const short = waveformOf(pcm([1000, -1000, 500]))
  t.equal(short.length, 64, 'fewer samples than bars still make 64 bars')
  t.equal(Math.max(...short), 100)
  t.same(waveformOf(Buffer.alloc(0)), new Array(64).fill(0))
})
