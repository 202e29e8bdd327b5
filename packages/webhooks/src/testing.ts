// Test support (not used by the product): a local webhook receiver for the worker's and the e2e tests.
import { createServer, type IncomingHttpHeaders } from 'node:http'

interface Teardown { teardown (fn: () => unknown): void }

/** One request a receiver got. */
export interface Received { headers: IncomingHttpHeaders, body: string, id: string, attempt: number }

/** How the receiver answers a request: a status and a body, or `hang` (never answers). */
export type Answer = { status: number, body?: string, location?: string } | 'hang'

/** A webhook receiver on 127.0.0.1 (node:http) that records what arrives and answers as told. */
export async function startReceiver (t: Teardown, answer: (r: Received, n: number) => Answer = () => ({ status: 204 })) {
  const received: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const r = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), id: String(req.headers['webhook-id']), attempt: Number(req.headers['webhook-attempt']) }
      received.push(r)
      const a = answer(r, received.length)
      if (a === 'hang') return
      res.writeHead(a.status, { 'content-type': 'text/plain', ...(a.location === undefined ? {} : { location: a.location }) }).end(a.body ?? '')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  const port = (server.address() as { port: number }).port
  return { url: `http://127.0.0.1:${port}/hooks`, port, received }
}
