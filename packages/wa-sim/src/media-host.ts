import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { generate } from 'selfsigned'

export interface MediaHost {
  /** host:port, as media_conn announces it */
  host: string
  /** The certificate (PEM) a client must trust: the value of WA_MEDIA_CA. */
  certPem: string
  /** Reads an uploaded blob by its URL (as a recipient downloads it). */
  fetch (url: string): Promise<Buffer>
  /** Stores an encrypted blob (as WhatsApp stores a history-sync blob) and returns its direct path. */
  store (bytes: Buffer): string
  blobs: Map<string, Buffer>
  /** The next `count` uploads are answered 500 (an upload failure on a connected socket); 0 clears. */
  failNextUploads (count: number): number
  close (): Promise<void>
}

const MAX_UPLOAD = 100 * 1024 * 1024

/** The HTTPS media host: Baileys uploads encrypted media here, recipients download it. */
export async function startMediaHost (opts: { port?: number, host?: string, cert?: { cert: string, key: string } } = {}): Promise<MediaHost & { certKey: { cert: string, key: string } }> {
  const bind = opts.host ?? '127.0.0.1'
  const certKey = opts.cert ?? await (async () => {
    const pems = await generate([{ name: 'commonName', value: 'wa-sim media' }], {
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [
        { name: 'basicConstraints', cA: true },
        { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] }
      ]
    } as never)
    return { cert: pems.cert, key: pems.private }
  })()
  const blobs = new Map<string, Buffer>()
  let hostString = ''
  let failUploads = 0
  const server: Server = createServer({ cert: certKey.cert, key: certKey.key }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://x')
    if (req.method === 'POST' && url.pathname.startsWith('/mms/')) {
      if (failUploads > 0) { failUploads--; req.resume(); res.writeHead(500).end(); return }
      const chunks: Buffer[] = []
      let size = 0
      req.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_UPLOAD) { res.writeHead(413).end(); req.destroy(); return }
        chunks.push(c)
      })
      req.on('end', () => {
        if (res.writableEnded) return
        const id = randomBytes(12).toString('hex')
        const directPath = `/m/${id}.enc`
        blobs.set(directPath, Buffer.concat(chunks))
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ url: `https://${hostString}${directPath}`, direct_path: directPath }))
      })
      return
    }
    if (req.method === 'GET') {
      const blob = blobs.get(url.pathname)
      if (!blob) { res.writeHead(404).end(); return }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length })
      res.end(blob)
      return
    }
    res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(opts.port ?? 0, bind, resolve))
  hostString = `${bind === '0.0.0.0' ? '127.0.0.1' : bind}:${(server.address() as AddressInfo).port}`
  return {
    host: hostString,
    certPem: certKey.cert,
    certKey,
    blobs,
    failNextUploads (count: number) { failUploads = Math.max(0, count); return failUploads },
    store (bytes: Buffer) {
      const directPath = `/v/t62.7119-24/${randomBytes(12).toString('hex')}.enc`
      blobs.set(directPath, bytes)
      return directPath
    },
    async fetch (mediaUrl: string) {
      // A real HTTPS download from the media host, trusting only its own certificate.
      const res = await fetchWithCa(mediaUrl, certKey.cert)
      return res
    },
    close: () => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) })
  }
}

async function fetchWithCa (url: string, ca: string): Promise<Buffer> {
  const { request } = await import('node:https')
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, method: 'GET', timeout: 10_000 }, res => {
      if (res.statusCode !== 200) { res.resume(); reject(new Error(`media host answered ${res.statusCode}`)); return }
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve(Buffer.concat(chunks)))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('media download timed out')))
    req.on('error', reject)
    req.end()
  })
}
