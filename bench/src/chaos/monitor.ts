// Polls, every half second, which sessions are connected: the API says so (row, lease and owner
// agree) and the simulator holds a logged-in socket of the session's device.
import { sleep, type Stack } from '../harness.ts'

export interface Sample { at: number, connected: number, missing: string[] }

/** Session ids the API reports connected, through the first node that answers. */
async function apiConnected (stack: Stack): Promise<Set<string> | null> {
  for (const api of stack.apis) {
    try {
      const ids = new Set<string>()
      let cursor: string | null | undefined
      do {
        const res = await fetch(`${api.url}/api/sessions?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers: { 'x-api-key': stack.apiKey }, signal: AbortSignal.timeout(3000) })
        if (res.status !== 200) throw new Error(String(res.status))
        const body = await res.json() as { data: Array<{ sessionId: string, connected: boolean }>, nextCursor?: string | null }
        for (const s of body.data) if (s.connected) ids.add(s.sessionId)
        cursor = body.nextCursor
      } while (cursor)
      return ids
    } catch { /* the next node */ }
  }
  return null
}

export function startMonitor (stack: Stack, sessions: Array<{ sessionId: string, device: string }>) {
  const samples: Sample[] = []
  const state = { stopped: false }
  const loop = (async () => {
    while (!state.stopped) {
      const at = Date.now()
      const [api, sim] = await Promise.all([apiConnected(stack), stack.sim.connections().catch(() => null)])
      if (api && sim) {
        const missing = sessions.filter(s => !api.has(s.sessionId) || (sim[s.device]?.open ?? 0) < 1).map(s => s.sessionId)
        samples.push({ at, connected: sessions.length - missing.length, missing: missing.slice(0, 20) })
      }
      await sleep(Math.max(0, at + 500 - Date.now()))
    }
  })()
  return {
    samples,
    /** Whether every session was connected in every sample of the last `ms`. */
    allConnectedFor (ms: number) {
      const now = Date.now()
      const recent = samples.filter(s => s.at >= now - ms)
      return recent.length >= Math.max(1, Math.floor(ms / 1000)) && recent.every(s => s.connected === sessions.length)
    },
    /**
     * From `t0`: when the last streak of all-connected samples began (0 when no session was ever
     * missing since `t0`), and the fewest connected.
     */
    recovery (t0: number) {
      const after = samples.filter(s => s.at >= t0)
      let streakStart = t0
      let fewest = sessions.length
      let missing: string[] = []
      for (const s of after) {
        if (s.connected < sessions.length) { streakStart = Infinity; if (s.connected < fewest) { fewest = s.connected; missing = s.missing } } else if (streakStart === Infinity) streakStart = s.at
      }
      return { ms: streakStart - t0, fewest, missing }
    },
    async stop () { state.stopped = true; await loop }
  }
}

export type Monitor = ReturnType<typeof startMonitor>
