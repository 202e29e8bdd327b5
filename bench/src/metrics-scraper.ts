// With METRICS_TOKEN in the environment, the benchmark's API nodes and workers serve /metrics (each
// worker on its own port) and, with BENCH_METRICS_SCRAPE_MS, this scrapes every one of them at that
// interval during the run, as Prometheus would: the figures then include the cost of metrics.
const token = process.env.METRICS_TOKEN
const everyMs = Number(process.env.BENCH_METRICS_SCRAPE_MS ?? 0)

/** The metrics targets of a benchmark's stack and the scrape loop over them. */
export function createMetricsScraper () {
  // A target is scraped from the moment its process is up until it exits (a process being started
  // or gone refuses the connection: Prometheus would show it down, not a metrics failure).
  const targets = new Set<string>()
  let scrapes = 0
  let down = 0
  const failures: string[] = []
  const timer = token && everyMs > 0
    ? setInterval(() => {
      for (const url of targets) {
        fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(everyMs * 5) })
          .then(async res => { await res.arrayBuffer(); if (res.ok) scrapes++; else failures.push(`${url}: HTTP ${res.status}`) },
            (err: Error) => { if ((err.cause as { code?: string } | undefined)?.code === 'ECONNREFUSED') down++; else failures.push(`${url}: ${err.message} (${(err.cause as { code?: string } | undefined)?.code ?? 'no code'})`) })
      }
    }, everyMs)
    : undefined
  timer?.unref()
  return {
    /** Extra environment of a worker (its own metrics port: several run on this one machine) and its target. */
    worker (): { env: Record<string, string>, target?: string } {
      if (!token) return { env: {} }
      const port = 40_000 + Math.floor(Math.random() * 20_000)
      return { env: { METRICS_PORT: String(port) }, target: `http://127.0.0.1:${port}/metrics` }
    },
    addTarget (url: string | undefined) { if (token && url) targets.add(url) },
    removeTarget (url: string | undefined) { if (url) targets.delete(url) },
    stop () {
      clearInterval(timer)
      if (!timer) return
      console.error(`metrics: ${scrapes} scrapes every ${everyMs} ms, ${failures.length} failed, ${down} refused (a process starting or gone)`)
      for (const f of failures.slice(0, 10)) console.error(`metrics: failed scrape ${f}`)
    }
  }
}
