// Every Prometheus metric of an API node, defined once, in a registry of its own per app instance
// (tests build several apps in one process). Labels are bounded: the route pattern, never the raw
// URL; the event name, never a session id.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface ApiMetricsSources {
  /** Socket.IO clients connected to this node now. */
  socketIoClients (): number
  /** Plain WebSocket (`/api/events`) clients connected to this node now. */
  webSocketClients (): number
}

/** The metrics of one API node; `registry` is what `/metrics` serves. */
export function createApiMetrics (sources: ApiMetricsSources) {
  const registry = new Registry()
  const registers = [registry]
  collectDefaultMetrics({ register: registry })
  return {
    registry,
    httpRequests: new Counter({ name: 'wss_http_requests_total', help: 'HTTP requests answered, by route pattern, method and status', labelNames: ['route', 'method', 'status'] as const, registers }),
    httpDuration: new Histogram({
      name: 'wss_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by route pattern, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers
    }),
    rateLimited: new Counter({ name: 'wss_rate_limit_rejections_total', help: 'Requests and Socket.IO handshakes refused by the per-IP rate limit', registers }),
    eventsRelayed: new Counter({ name: 'wss_events_relayed_total', help: 'Worker events this node received and relayed to its clients, by event', labelNames: ['event'] as const, registers }),
    socketIoClients: new Gauge({ name: 'wss_socketio_clients', help: 'Socket.IO clients connected to this node', registers, collect () { this.set(sources.socketIoClients()) } }),
    webSocketClients: new Gauge({ name: 'wss_websocket_clients', help: 'WebSocket event-stream clients connected to this node', registers, collect () { this.set(sources.webSocketClients()) } })
  }
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>
