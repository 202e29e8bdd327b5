// With METRICS_TOKEN in the environment, the benchmark's API nodes and workers serve /metrics (each
// worker on its own port) and, with BENCH_METRICS_SCRAPE_MS, this scrapes every one of them at that
// interval during the run, as Prometheus would: the figures then include the cost of metrics.
const token = process.env.METRICS_TOKEN
const everyMs = Number(process.env.BENCH_METRICS_SCRAPE_MS ?? 0)

/** The metrics targets of a benchmark's stack and the scrape loop over them. */
export function createMetricsScraper () {
  const targets: string[] = []
  let scrapes = 0
  let failures = 0
  const timer = token && everyMs > 0
    ? setInterval(() => {
      for (const url of targets) {
        fetch(url, { headers: { authorization: `Bearer ${token}` } })
          .then(async res => { await res.arrayBuffer(); if (res.ok) scrapes++; else failures++ }, () => { failures++ })
      }
    }, everyMs)
    : undefined
  timer?.unref()
  return {
    /** Extra environment of a worker: its own metrics port (several run on this one machine). */
    workerEnv (): Record<string, string> {
      if (!token) return {}
      const port = 40_000 + Math.floor(Math.random() * 20_000)
      targets.push(`http://127.0.0.1:${port}/metrics`)
      return { METRICS_PORT: String(port) }
    },
    addApi (url: string) { if (token) targets.push(`${url}/metrics`) },
    stop () {
      clearInterval(timer)
      if (timer) console.error(`metrics: ${scrapes} scrapes of ${targets.length} targets every ${everyMs} ms, ${failures} failed`)
    }
  }
}
