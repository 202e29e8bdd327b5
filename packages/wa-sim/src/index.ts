import { existsSync } from 'node:fs'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer } from 'ws'
import { SimClient } from './client.ts'
import { controlRoutes } from './control-api.ts'
import { startMediaHost } from './media-host.ts'
import { Simulator } from './simulator.ts'
import { parseState, serializeState } from './state.ts'

export { SimClient } from './client.ts'
export { Simulator, SimError } from './simulator.ts'
export type { LinkResult, ConnectionLogEntry, DeviceLog } from './simulator.ts'
export type { StatusRecord, RecipientResult, MediaInfo } from './state.ts'

export interface SimulatorSettings {
  /** WebSocket URL the client connects to. */
  WA_WS_URL: string
  /** The simulator root's public key (base64): the client trusts the server's certificate chain with it. */
  WA_TRUST_ROOT: string
  /** The media host's certificate (PEM). */
  WA_MEDIA_CA: string
}

export interface StartOptions {
  /** Port of the WebSocket + control API server (0 = any free port). */
  port?: number
  /** Port of the HTTPS media host (0 = any free port). */
  mediaPort?: number
  host?: string
  /** Restore the state from this file when it exists; `save()` writes it back. */
  stateFile?: string
  /** See {@link SimulatorOptions.lazyDecrypt}. */
  lazyDecrypt?: boolean
}

export interface RunningSimulator {
  /** http://host:port: the control API lives under /sim. */
  url: string
  wsUrl: string
  mediaHost: string
  settings: SimulatorSettings
  client: SimClient
  sim: Simulator
  /** Writes the whole state to a file (default: the stateFile option). */
  save (path?: string): Promise<string>
  close (): Promise<void>
}

/** Starts a simulated WhatsApp server with its control API and media host. */
export async function startSimulator (opts: StartOptions = {}): Promise<RunningSimulator> {
  const state = opts.stateFile && existsSync(opts.stateFile) ? parseState(await readFile(opts.stateFile, 'utf8')) : undefined
  const media = await startMediaHost({ port: opts.mediaPort, host: opts.host, cert: state?.mediaCert })
  const sim = new Simulator({ mediaHost: () => media.host, fetchMedia: url => media.fetch(url), storeMedia: bytes => media.store(bytes), state, lazyDecrypt: opts.lazyDecrypt })
  sim.state.mediaCert = media.certKey

  const save = async (path = opts.stateFile) => {
    if (!path) throw new Error('no state file given')
    const tmp = `${path}.tmp`
    await writeFile(tmp, serializeState(sim.state))
    await rename(tmp, path)
    return path
  }
  let info: () => unknown = () => ({})
  const control = controlRoutes(sim, { info: () => info(), save, failNextUploads: count => media.failNextUploads(count) })
  const server = createServer((req, res) => {
    control(req, res).then(handled => {
      if (!handled) res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }))
    }, () => res.writeHead(500).end())
  })
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 })
  server.on('upgrade', (req, socket, head) => {
    if (sim.refusing()) {
      // As an unreachable edge server looks to the client: the connection is cut before the upgrade.
      sim.noteRefused()
      socket.destroy()
      return
    }
    if (!req.url?.startsWith('/ws/chat')) {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n')
      return
    }
    wss.handleUpgrade(req, socket, head, ws => sim.accept(ws))
  })
  const bind = opts.host ?? '127.0.0.1'
  await new Promise<void>(resolve => server.listen(opts.port ?? 0, bind, resolve))
  const port = (server.address() as AddressInfo).port
  const publicHost = bind === '0.0.0.0' ? '127.0.0.1' : bind
  const url = `http://${publicHost}:${port}`
  const wsUrl = `ws://${publicHost}:${port}/ws/chat`
  const settings: SimulatorSettings = { WA_WS_URL: wsUrl, WA_TRUST_ROOT: sim.trustRoot, WA_MEDIA_CA: media.certPem }
  info = () => ({ url, wsUrl, mediaHost: media.host, settings })

  let closed = false
  return {
    url,
    wsUrl,
    mediaHost: media.host,
    settings,
    client: new SimClient(url),
    sim,
    save,
    async close () {
      if (closed) return
      closed = true
      sim.closeAll()
      for (const ws of wss.clients) ws.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
      await media.close()
    }
  }
}
