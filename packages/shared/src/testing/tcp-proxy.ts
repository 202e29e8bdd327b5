import { createServer, Socket, type Server } from 'node:net'

/** What registers cleanup: a tap test (`t.teardown`). */
export interface Teardown { teardown: (fn: () => unknown) => void }

/**
 * A TCP proxy in front of a real server (Redis in the tests): `cut()` drops every connection and
 * refuses new ones, `restore()` lets them through again. It gives one process an outage the others
 * do not see. `delayAnswers(ms)` holds what the server sends back for that long (in order), as a
 * client whose event loop is starved reads its answers late. Test code only: no production module
 * imports `@wss/shared/testing`.
 */
export async function tcpProxy (t: Teardown, target: URL) {
  let up = true
  let answerDelayMs = 0
  const sockets = new Set<Socket>()
  const server: Server = createServer(client => {
    if (!up) { client.destroy(); return }
    const upstream = new Socket()
    upstream.connect(Number(target.port || 6379), target.hostname)
    client.pipe(upstream)
    let releaseAt = 0 // answers keep their order when the delay changes
    upstream.on('data', chunk => {
      releaseAt = Math.max(releaseAt, Date.now() + answerDelayMs)
      const wait = releaseAt - Date.now()
      if (wait <= 0) client.write(chunk)
      else setTimeout(() => { if (!client.destroyed) client.write(chunk) }, wait)
    })
    const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream) }
    for (const s of [client, upstream]) { s.on('error', drop); s.on('close', drop); sockets.add(s) }
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { for (const s of sockets) s.destroy(); server.close(() => resolve()) }))
  return {
    url: `${target.protocol}//127.0.0.1:${(server.address() as { port: number }).port}`,
    cut () { up = false; for (const s of sockets) s.destroy(); sockets.clear() },
    restore () { up = true },
    delayAnswers (ms: number) { answerDelayMs = ms }
  }
}
