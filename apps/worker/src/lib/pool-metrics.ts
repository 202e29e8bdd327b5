// The pool's side of metrics: it asks each worker process over IPC for its registry as JSON and
// merges them with prom-client's AggregatorRegistry (each metric's own aggregator: counters and
// session gauges summed, the oldest job age the max), so one endpoint per host covers the pool.
import type { ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client'

/** The IPC messages of a metrics scrape. */
export const METRICS_REQUEST = 'wss:metrics-request'
export const METRICS_RESPONSE = 'wss:metrics-response'
type metric = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number]
/** A worker process's answer: its registry as JSON. */
export interface MetricsResponse { type: typeof METRICS_RESPONSE, id: string, metrics: metric[] }

// A worker that does not answer in this time (busy, restarting) is left out of this scrape.
const CHILD_ANSWER_MS = 3000

function askChild (child: ChildProcess): Promise<metric[] | null> {
  if (!child.connected) return Promise.resolve(null)
  const id = randomUUID()
  return new Promise(resolve => {
    const done = (value: metric[] | null) => { clearTimeout(timer); child.off('message', onMessage); resolve(value) }
    const onMessage = (m: Partial<MetricsResponse>) => { if (m?.type === METRICS_RESPONSE && m.id === id) done(m.metrics ?? null) }
    const timer = setTimeout(() => done(null), CHILD_ANSWER_MS)
    child.on('message', onMessage)
    child.send({ type: METRICS_REQUEST, id }, err => { if (err) done(null) })
  })
}

/** The pool's own metrics and the scrape that merges them with every worker process's. */
export function createPoolMetrics (children: () => Iterable<ChildProcess>, desired: number) {
  const own = new Registry()
  // Registered in `own` as they are made; nothing else holds them.
  own.registerMetric(new Gauge({ name: 'wss_pool_processes', help: 'Worker processes running in this pool', registers: [], collect () { this.set([...children()].length) } }))
  new Gauge({ name: 'wss_pool_processes_desired', help: 'Worker processes this pool keeps running (WORKER_PROCESSES)', registers: [own] }).set(desired)
  const restarts = new Counter({ name: 'wss_pool_restarts_total', help: 'Worker processes that exited unasked and were started again', registers: [own] })

  return {
    restarts,
    async render () {
      const answers = (await Promise.all([...children()].map(askChild))).filter(m => m !== null)
      const workers = AggregatorRegistry.aggregate(answers)
      const merged = Registry.merge([own, workers as Registry])
      return { contentType: merged.contentType, body: await merged.metrics() }
    }
  }
}
