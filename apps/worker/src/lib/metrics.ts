// Every Prometheus metric of a worker process, defined once. The parts record with one-line calls
// (`metrics.connects.inc()`); gauges read their value when scraped, from the sources the worker
// manager registers. Metrics are per process by nature (a process is what Prometheus scrapes, or
// what the pool aggregates), so they live in one registry of this module, not in the global one;
// defining them does no I/O. Labels are bounded: never a session id or a phone number.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { METRICS_REQUEST, METRICS_RESPONSE, type MetricsResponse } from './pool-metrics.ts'

/** The registry of this process: what `/metrics` serves, or what the pool collects over IPC. */
export const registry = new Registry()

/** Something the worker runs that gauges read at scrape time (a worker manager registers its own). */
export interface MetricsSource {
  workerId: string
  /** The state of every session this process runs. */
  sessionStates (): Iterable<string>
  /** This worker's command queue: jobs waiting, and the age of the oldest in seconds (0 when none). */
  queue (): Promise<{ waiting: number, oldestAgeSeconds: number }>
  /** WhatsApp connection attempts in flight, and sessions waiting for a slot (CONNECT_CONCURRENCY). */
  connectAttempts (): { inFlight: number, waiting: number }
}
const sources = new Set<MetricsSource>()

/** Adds a source read at each scrape; returns its remover (on close). */
export function addMetricsSource (source: MetricsSource): () => void {
  sources.add(source)
  return () => { sources.delete(source) }
}

const SESSION_STATES = ['connecting', 'awaiting_pairing', 'awaiting_qr', 'connected', 'disconnected', 'logged_out']

const registers = [registry]
export const metrics = {
  sessions: new Gauge({
    name: 'wss_sessions',
    help: 'Sessions this worker process runs, by state',
    labelNames: ['state'] as const,
    registers,
    collect () {
      const counts = new Map(SESSION_STATES.map(s => [s, 0]))
      for (const source of sources) for (const state of source.sessionStates()) counts.set(state, (counts.get(state) ?? 0) + 1)
      for (const [state, n] of counts) this.set({ state }, n)
    }
  }),
  connectAttempts: new Gauge({
    name: 'wss_session_connect_attempts',
    help: 'WhatsApp connection attempts by phase: in_flight (socket opened, not yet open, a code or closed; at most CONNECT_CONCURRENCY per process), waiting (owned sessions waiting for a slot)',
    labelNames: ['phase'] as const,
    registers,
    collect () {
      let inFlight = 0
      let waiting = 0
      for (const source of sources) {
        const a = source.connectAttempts()
        inFlight += a.inFlight
        waiting += a.waiting
      }
      this.set({ phase: 'in_flight' }, inFlight)
      this.set({ phase: 'waiting' }, waiting)
    }
  }),
  connects: new Counter({ name: 'wss_session_connects_total', help: 'WhatsApp connections opened', registers }),
  reconnects: new Counter({ name: 'wss_session_reconnects_total', help: 'Reconnects scheduled after a lost connection', registers }),
  disconnects: new Counter({ name: 'wss_session_disconnects_total', help: 'WhatsApp connections closed, by reason (Baileys DisconnectReason)', labelNames: ['reason'] as const, registers }),
  pairingAttempts: new Counter({ name: 'wss_pairing_attempts_total', help: 'Pairing codes and QR codes issued', labelNames: ['method'] as const, registers }),
  statusesSent: new Counter({ name: 'wss_statuses_sent_total', help: 'Status sends that ended, by type and outcome (sent, refused by WhatsApp, failed)', labelNames: ['type', 'outcome'] as const, registers }),
  statusAck: new Histogram({
    name: 'wss_status_ack_seconds',
    help: 'From the send-status request to WhatsApp\'s ack of the last stanza',
    labelNames: ['type'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
    registers
  }),
  viewReceipts: new Counter({ name: 'wss_view_receipts_total', help: 'Viewers recorded (first view of a status by a contact)', registers }),
  viewerFlush: new Histogram({ name: 'wss_viewer_flush_seconds', help: 'Time to write one batch of view receipts', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers }),
  webhookDeliveries: new Counter({
    name: 'wss_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome (delivered; retry: failed, another attempt scheduled; failed: no more attempts; lost: interrupted by a dead worker, not resent)',
    labelNames: ['outcome'] as const,
    registers
  }),
  webhookLatency: new Histogram({ name: 'wss_webhook_delivery_seconds', help: 'Time from sending a webhook to its receiver\'s answer (or the failure)', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers }),
  leaseRenewals: new Counter({ name: 'wss_lease_renewals_total', help: 'Liveness renewals of this worker, by result (ok, error)', labelNames: ['result'] as const, registers }),
  takeovers: new Counter({ name: 'wss_lease_takeovers_total', help: 'Sessions moved off a dead or fenced owner (placed by this worker\'s sweep, or let go after a restart or a fence)', registers }),
  selfFencings: new Counter({ name: 'wss_lease_self_fencings_total', help: 'Times this worker stopped its sessions because its lease could not be renewed', registers }),
  reasserted: new Counter({ name: 'wss_lease_reasserted_sessions_total', help: 'Sessions this worker kept after Redis lost its data, by setting their owners back while the registry was new', registers }),
  keyCache: new Counter({ name: 'wss_signal_key_cache_lookups_total', help: 'Signal key reads from the shared cache, by result (hit, miss)', labelNames: ['result'] as const, registers }),
  queueWaiting: new Gauge({
    name: 'wss_command_queue_jobs',
    help: 'Commands waiting in a worker\'s queue (waiting, prioritized, delayed)',
    labelNames: ['worker'] as const,
    registers,
    async collect () { await collectQueues() }
  }),
  queueOldest: new Gauge({
    name: 'wss_command_queue_oldest_job_age_seconds',
    help: 'Age of the oldest command waiting in a worker\'s queue',
    labelNames: ['worker'] as const,
    aggregator: 'max',
    registers,
    async collect () { await collectQueues() }
  })
}

// One BullMQ read per scrape fills both queue gauges (prom-client collects them concurrently, so
// they share it); a failed read leaves a worker out rather than reporting 0.
let collecting: Promise<void> | undefined
function collectQueues (): Promise<void> {
  collecting ??= readQueues().finally(() => { collecting = undefined })
  return collecting
}

async function readQueues () {
  metrics.queueWaiting.reset()
  metrics.queueOldest.reset()
  await Promise.all([...sources].map(async source => {
    const q = await source.queue().catch(() => null)
    if (!q) return
    metrics.queueWaiting.set({ worker: source.workerId }, q.waiting)
    metrics.queueOldest.set({ worker: source.workerId }, q.oldestAgeSeconds)
  }))
}

/** In a worker process under the pool: answers the pool's metrics requests over IPC. */
export function answerPoolMetricsRequests (): void {
  process.on('message', (message: { type?: unknown, id?: unknown }) => {
    if (message?.type !== METRICS_REQUEST || typeof message.id !== 'string') return
    const id = message.id
    registry.getMetricsAsJSON().then(metrics => {
      if (process.connected) process.send?.({ type: METRICS_RESPONSE, id, metrics } satisfies MetricsResponse)
    }, () => undefined)
  })
}

/** Starts prom-client's process metrics (CPU, memory, event-loop lag, GC); once per process. */
export function startProcessMetrics (): void {
  collectDefaultMetrics({ register: registry })
}
