// A seeded PRNG (mulberry32) so a chaos run's schedule, load and choices replay from its seed.
export interface Rng {
  /** Uniform in [0, 1). */
  next (): number
  /** An integer in [0, n). */
  int (n: number): number
  /** `k` distinct elements of `items`. */
  pick<T> (items: readonly T[], k: number): T[]
}

export function createRng (seed: number): Rng {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number) => Math.floor(next() * n)
  return {
    next,
    int,
    pick (items, k) {
      const copy = [...items]
      for (let i = copy.length - 1; i > 0; i--) { const j = int(i + 1); [copy[i], copy[j]] = [copy[j]!, copy[i]!] }
      return copy.slice(0, Math.min(k, copy.length))
    }
  }
}
