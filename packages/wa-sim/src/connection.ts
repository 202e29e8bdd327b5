import { decodeBinaryNode, encodeBinaryNode, type BinaryNode, type proto } from '@whiskeysockets/baileys'
import type { WebSocket } from 'ws'
import { encodeFrame, FrameReader, NoiseResponder } from './noise.ts'

export interface ConnectionHandlers {
  /** Called once the Noise handshake is done, with the client's payload. */
  onPayload (conn: Connection, payload: proto.ClientPayload): void | Promise<void>
  onNode (conn: Connection, node: BinaryNode): void | Promise<void>
  onClose (conn: Connection): void
  /** Extra delay before each reply, for the "slow server" fault. */
  replyDelayMs (conn: Connection): number
}

let nextConnId = 1

/** One client WebSocket: Noise framing, node encoding, and who it turned out to be. */
/** How long a connection the server ends may take to answer the close handshake before it is dropped. */
export const END_TIMEOUT_MS = 2000

export class Connection {
  readonly id = nextConnId++
  readonly openedAt = Date.now()
  private readonly reader = new FrameReader()
  private readonly noise: NoiseResponder
  private stage: 'hello' | 'finish' | 'transport' = 'hello'
  private chain: Promise<void> = Promise.resolve()
  closed = false
  /**
   * Set when the server ends the connection (a 440, a failure): nothing more is routed to it, and
   * a client that does not answer the close handshake (a paused process) is dropped after
   * END_TIMEOUT_MS instead of ws's 30 s, as WhatsApp's servers drop a replaced socket.
   */
  ending = false
  /** Set after login: "phone:device". Registration connections have none. */
  deviceKey?: string
  phone?: string
  deviceId?: number
  /** Registration data of a not-yet-linked client. */
  registration?: { identityPub: Buffer, registrationId: number, signedPreKey: { keyId: number, public: Buffer, signature: Buffer }, platform: string }
  noisePub?: Buffer
  private tagCounter = 1

  constructor (
    readonly ws: WebSocket,
    noise: NoiseResponder,
    private readonly handlers: ConnectionHandlers
  ) {
    this.noise = noise
    ws.on('message', (data: Buffer) => {
      let frames: Buffer[]
      try {
        frames = this.reader.push(Buffer.from(data))
      } catch {
        this.terminate()
        return
      }
      for (const frame of frames) this.onFrame(frame)
    })
    ws.on('close', () => {
      if (this.closed) return
      this.closed = true
      this.handlers.onClose(this)
    })
    ws.on('error', () => this.terminate())
  }

  private onFrame (frame: Buffer) {
    try {
      if (this.stage === 'hello') {
        this.stage = 'finish'
        this.ws.send(encodeFrame(this.noise.serverHello(frame)))
        return
      }
      if (this.stage === 'finish') {
        this.stage = 'transport'
        const payload = this.noise.clientFinish(frame)
        this.noisePub = this.noise.clientStatic
        this.enqueue(() => this.handlers.onPayload(this, payload))
        return
      }
      // Decrypt synchronously: the GCM counter follows frame order.
      const plain = this.noise.decrypt(frame)
      this.enqueue(async () => {
        const node = await decodeBinaryNode(plain)
        await this.handlers.onNode(this, node)
      })
    } catch {
      this.terminate()
    }
  }

  private enqueue (work: () => unknown) {
    this.chain = this.chain.then(work).then(undefined, () => { this.terminate() })
  }

  /** A fresh id for a server-initiated iq. */
  nextTag () { return `sim-${this.id}-${this.tagCounter++}` }

  /** Sends one node, after the configured reply delay. */
  send (node: BinaryNode): Promise<void> {
    const delay = this.handlers.replyDelayMs(this)
    const write = () => {
      if (this.closed || this.ws.readyState !== this.ws.OPEN) return
      this.ws.send(encodeFrame(this.noise.encrypt(encodeBinaryNode(node))))
    }
    if (delay > 0) return new Promise(resolve => setTimeout(() => { write(); resolve() }, delay))
    write()
    return Promise.resolve()
  }

  /** Sends a node and then closes the socket (stream errors, failures). */
  async sendAndClose (node: BinaryNode) {
    this.ending = true
    await this.send(node)
    setTimeout(() => this.close(), 20)
    setTimeout(() => { if (!this.closed) this.terminate() }, END_TIMEOUT_MS).unref()
  }

  close () {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close()
  }

  /** Drops the TCP connection without a close frame (what a network failure looks like). */
  terminate () {
    this.ws.terminate()
  }
}
