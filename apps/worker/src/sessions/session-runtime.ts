import type { ConnectionState, WASocket } from '@whiskeysockets/baileys'
import { StaleGenerationError, updateSessionFenced, type PrismaClient, type Session } from '@wss/db'
import { AppError } from '@wss/shared'
import type { Logger } from 'pino'
import QRCode from 'qrcode'
import type { AuthStore, SessionAuth } from '../auth/index.ts'
import type { EventPublisher } from '../events.ts'
import type { SocketFactory } from '../wa/socket-factory.ts'
import { metrics } from '../lib/metrics.ts'
import { closeSocket } from '../wa/close-socket.ts'
import { closeAction, reconnectDelay } from './close-policy.ts'
import { SessionSlot, type ConnectLimiter } from './connect-limiter.ts'
import { disconnectReason } from './disconnect-reason.ts'
import { isSettled, SettleWaiters, type Settled } from './settle-waiters.ts'
import { connectedWrite, connectionStatus, type SessionWrite } from './session-row.ts'

export interface RuntimeDeps {
  prisma: PrismaClient
  authStore: AuthStore
  events: EventPublisher
  makeSocket: SocketFactory
  /** The worker's connection attempts in flight: every socket of every session waits for a slot. */
  connectLimiter: ConnectLimiter
  logger: Logger
  config: { RECONNECT_BASE_MS: number, RECONNECT_MAX_MS: number, PAIRING_MAX_ATTEMPTS: number }
  /** Called when the session no longer runs here (logged out, replaced, gave up, lost). */
  onFinished (runtime: SessionRuntime, reason: string): void
  /** Called for every socket, so receipts and acks can be observed. */
  onSocket (runtime: SessionRuntime, sock: WASocket): void
}

/**
 * One session's WhatsApp connection on its owning worker: linking (pairing code or QR), the 515
 * restart, logout, replacement, reconnects with backoff. Every write of session state carries the
 * owner's generation; a stale write stops the runtime.
 */
export class SessionRuntime {
  sock?: WASocket
  private auth?: SessionAuth
  private row!: Session
  private stopped = false
  private reconnects = 0
  private pairingAttempts = 0
  private pairingRequested = false
  private timer?: NodeJS.Timeout
  /** True between this socket's `open` and its close: the row alone may be stale. */
  private open = false
  private readonly settleWaiters = new SettleWaiters()
  private readonly slot: SessionSlot
  private readonly log: Logger

  constructor (readonly sessionId: string, readonly generation: bigint, private readonly deps: RuntimeDeps) {
    this.log = deps.logger.child({ sessionId })
    this.slot = new SessionSlot(deps.connectLimiter)
  }

  get connected () { return !this.stopped && this.open && this.row?.state === 'connected' }
  get state () { return this.row?.state }
  get ownJid () { return this.sock?.user?.id }
  get session () { return this.row }

  /** Loads the session and connects. Resolves false when the session no longer exists. */
  async start (): Promise<boolean> {
    const row = await this.deps.prisma.session.findUnique({ where: { id: this.sessionId } })
    if (!row) return false
    this.row = row
    // Taken over or resumed: not connected until this worker's own socket opens.
    if (row.state === 'connected') {
      await this.write({ state: 'connecting' })
      this.publishStatus()
    }
    await this.connect()
    return true
  }

  /** Resolves once the session shows a pairing code, a QR, is connected or gave up (or after timeoutMs). */
  settled (timeoutMs: number): Promise<Settled | null> {
    if (isSettled(this.row)) return Promise.resolve(this.snapshot())
    return this.settleWaiters.wait(timeoutMs)
  }

  private snapshot (): Settled {
    return { state: this.row.state, pairingCode: this.row.pairingCode, qrCode: this.row.qrCode, lastError: this.row.lastError }
  }

  private settle () {
    // Stopped before its row was read (the worker fenced mid-start): callers wait for their timeout.
    if (this.row) this.settleWaiters.notify(this.snapshot())
  }

  private async connect () {
    if (this.stopped) return
    clearTimeout(this.timer)
    this.auth ??= await this.deps.authStore.open(this.sessionId, this.generation)
    // stop() may have run while the auth state loaded: then no socket may be opened.
    if (this.stopped) return
    // Owned but not connecting until the worker has a slot; a stop (or a newer attempt) meanwhile
    // gives the place up and opens nothing.
    if (!await this.slot.take()) return
    if (this.stopped) return this.slot.give()
    this.pairingRequested = false
    let sock: WASocket
    try {
      sock = this.deps.makeSocket(this.auth.state as never, this.log)
    } catch (err) {
      this.slot.give()
      throw err
    }
    this.sock = sock
    sock.ev.on('creds.update', () => {
      this.auth?.saveCreds().catch(err => this.onWriteError(err))
    })
    sock.ev.on('connection.update', update => {
      if (sock !== this.sock) return
      this.onConnectionUpdate(sock, update).catch(err => this.onWriteError(err))
    })
    this.deps.onSocket(this, sock)
  }

  /** Writes session columns fenced by the generation, then keeps the row in memory. */
  private async write (data: SessionWrite) {
    await updateSessionFenced(this.deps.prisma, this.sessionId, this.generation, data)
    this.row = { ...this.row, ...data, updatedAt: new Date() }
  }

  /** Deletes the stored credentials: the next socket starts with fresh ones. */
  private async clearAuth () {
    await this.auth?.clear()
    this.auth = undefined
  }

  private onWriteError (err: unknown) {
    if (err instanceof StaleGenerationError) {
      // Another worker owns the session now: stop without touching anything.
      this.log.warn('stale generation, stopping')
      void this.stop()
      this.deps.onFinished(this, 'stale-generation')
      return
    }
    this.log.error({ err }, 'session update failed')
  }

  private publishStatus () {
    this.deps.events.publish('connection-status', connectionStatus(this.sessionId, this.row))
  }

  private async onConnectionUpdate (sock: WASocket, update: Partial<ConnectionState>) {
    if (this.stopped) return
    // The handshake is over (a QR or code now waits for a person, or it opened or closed): the slot goes.
    if (update.qr || update.connection === 'open' || update.connection === 'close') this.slot.give()
    if (update.qr) await this.onQr(sock, update.qr)
    if (update.connection === 'open') {
      this.open = true
      this.reconnects = 0
      this.pairingAttempts = 0
      await this.write(connectedWrite(sock.user!, this.row))
      this.log.info('connected')
      metrics.connects.inc()
      this.publishStatus()
      this.settle()
    }
    if (update.connection === 'close') await this.onClose(update)
  }

  private async onQr (sock: WASocket, qr: string) {
    if (this.row.authMethod === 'qrcode') {
      const qrCode = await QRCode.toDataURL(qr)
      await this.write({ state: 'awaiting_qr', qrCode, pairingCode: null })
      this.deps.events.publish('qr-code', { sessionId: this.sessionId, qrCode })
      metrics.pairingAttempts.inc({ method: 'qrcode' })
      this.publishStatus()
      this.settle()
      return
    }
    // Pairing code: the socket can take the request once it is registering (its first QR).
    if (this.pairingRequested || this.auth?.state.creds.registered) return
    if (!this.row.phoneNumber) {
      await this.write({ state: 'disconnected', lastError: 'no phone number to pair with' })
      this.settle()
      return
    }
    this.pairingRequested = true
    const code = await sock.requestPairingCode(this.row.phoneNumber)
    await this.write({ state: 'awaiting_pairing', pairingCode: code, qrCode: null })
    this.deps.events.publish('pairing-code', { sessionId: this.sessionId, pairingCode: code, phoneNumber: this.row.phoneNumber })
    metrics.pairingAttempts.inc({ method: 'pairing' })
    this.publishStatus()
    this.settle()
  }

  private async onClose (update: Partial<ConnectionState>) {
    const code = (update.lastDisconnect?.error as { output?: { statusCode?: number } } | undefined)?.output?.statusCode
    const linked = !!this.row.linkedAt
    this.open = false
    this.sock = undefined
    this.log.info({ code, linked }, 'connection closed')
    metrics.disconnects.inc({ reason: disconnectReason(code) })
    const action = closeAction(code, linked)
    if (action.kind === 'restart') {
      await this.connect()
      return
    }
    if (action.kind === 'end') {
      if (action.clearAuth) await this.clearAuth()
      await this.end(action.reason, action.state, action.lastError)
      return
    }
    if (action.kind === 'relink') {
      this.pairingAttempts++
      if (this.pairingAttempts > this.deps.config.PAIRING_MAX_ATTEMPTS) {
        await this.end('pairing-gave-up', 'disconnected', 'pairing was not completed in time')
        return
      }
      await this.clearAuth()
      this.schedule(Math.min(1000 * this.pairingAttempts, 5000))
      return
    }
    const delay = reconnectDelay(this.deps.config, this.reconnects++)
    metrics.reconnects.inc()
    if (this.row.state === 'connected') {
      await this.write({ state: 'connecting', lastError: `connection lost (${code ?? 'unknown'}), reconnecting` })
      this.publishStatus()
    }
    this.schedule(delay)
  }

  private schedule (ms: number) {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => { this.connect().catch(err => this.onWriteError(err)) }, ms)
  }

  /** Records why the session stopped (no code or QR left), announces it and lets the session go. */
  private async end (reason: string, state: Session['state'], lastError: string) {
    await this.write({ state, lastError, pairingCode: null, qrCode: null })
    this.publishStatus()
    this.settle()
    await this.finish(reason)
  }

  private async finish (reason: string) {
    await this.stop()
    this.deps.onFinished(this, reason)
  }

  /** Ends the socket and every timer; writes nothing. */
  async stop () {
    this.stopped = true
    this.open = false
    clearTimeout(this.timer)
    this.slot.give()
    const sock = this.sock
    this.sock = undefined
    // Wait for the socket to be closed before the session can be handed over: never two connections.
    await closeSocket(sock)
    this.deps.authStore.evictSession(this.sessionId)
    this.settle()
  }

  /**
   * Stops after this worker lost its lease (fenced): the socket goes first, then the row stops
   * saying `connected` (best effort: a newer owner may already have taken the session).
   */
  async suspend () {
    await this.stop()
    if (this.row?.state !== 'connected') return
    try {
      await this.write({ state: 'connecting', lastError: 'the worker lost its lease; the session is being resumed' })
      this.publishStatus()
    } catch { /* a newer owner took over: its state stands */ }
  }

  /** Tears the socket down and connects again (the restart route). */
  async restart () {
    clearTimeout(this.timer)
    const sock = this.sock
    this.sock = undefined
    await closeSocket(sock)
    this.reconnects = 0
    this.pairingAttempts = 0
    this.row = (await this.deps.prisma.session.findUnique({ where: { id: this.sessionId } })) ?? this.row
    if (!this.row.linkedAt) await this.clearAuth()
    await this.write({ state: 'connecting', lastError: null, pairingCode: null, qrCode: null })
    this.publishStatus()
    await this.connect()
  }

  /** A fresh pairing code (the socket restarts with fresh credentials when needed). */
  async requestPairingCode (phoneNumber?: string) {
    if (this.row.state === 'connected') throw new AppError('SESSION_ALREADY_CONNECTED', 'the session is already connected')
    if (this.row.authMethod !== 'pairing' && !phoneNumber) throw new AppError('BAD_REQUEST', 'this session links by QR code')
    if (phoneNumber) await this.write({ phoneNumber })
    // Renewing a code means a new registration: the old companion handshake cannot be reused.
    const sock = this.sock
    this.sock = undefined
    await closeSocket(sock)
    await this.clearAuth()
    await this.write({ state: 'connecting', pairingCode: null, qrCode: null, lastError: null })
    this.pairingAttempts = 0
    await this.connect()
    return this.settled(20_000)
  }

  /** Logs the device out on WhatsApp when connected (DELETE of the session). */
  async logout () {
    const sock = this.sock
    if (sock?.user && this.row.state === 'connected') {
      await sock.logout().catch(err => this.log.warn({ err: (err as Error).message }, 'logout failed'))
    }
    await this.stop()
  }
}
