import { existsSync, readFileSync } from 'node:fs'
import { Agent } from 'node:https'
import { Browsers, makeWASocket, proto, WA_CERT_DETAILS, type AuthenticationState, type WASocket } from '@whiskeysockets/baileys'
import type { Logger } from 'pino'
import { bootstrapAddressBook } from '../contacts/address-book-sync.ts'
import { mediaDispatcher } from './media-dispatcher.ts'

export interface WhatsAppSettings {
  WA_WS_URL?: string
  WA_TRUST_ROOT?: string
  WA_MEDIA_CA?: string
}

/**
 * The history syncs the product processes: push names only. Contacts' names, not chat history
 * (RECENT / FULL would cost ~60 MB per session); the address book comes by app-state sync.
 */
export const shouldSyncHistory = (n: proto.Message.IHistorySyncNotification) => n.syncType === proto.HistorySync.HistorySyncType.PUSH_NAME

/**
 * Builds Baileys sockets with the product's settings. WA_* unset = real WhatsApp; set, they point
 * the client at another server (the simulator): its URL, its certificate root, its media CA.
 */
export function createSocketFactory (settings: WhatsAppSettings, logger: Logger) {
  if (settings.WA_TRUST_ROOT) {
    const root = Buffer.from(settings.WA_TRUST_ROOT, 'base64')
    if (root.length !== 32) throw new Error('WA_TRUST_ROOT must be a base64 32-byte public key')
    // Baileys checks the server's certificate chain against this exported key.
    WA_CERT_DETAILS.PUBLIC_KEY = root
  }
  const ca = settings.WA_MEDIA_CA
    ? (settings.WA_MEDIA_CA.includes('-----BEGIN') ? settings.WA_MEDIA_CA : readPem(settings.WA_MEDIA_CA))
    : undefined
  const fetchAgent = ca ? new Agent({ ca, keepAlive: true }) : undefined
  // Baileys is chatty: its info lines go to debug level, never below the process's own level.
  const baileysLevel = logger.level === 'trace' ? 'debug' : logger.isLevelEnabled('warn') ? 'warn' : logger.level
  const baileysLogger = logger.child({ module: 'baileys' }, { level: baileysLevel })

  /** `log`: the session's logger (the address-book read reports there). */
  return (auth: AuthenticationState, log: Logger = logger): WASocket => {
    // Downloads (history-sync blobs) go to the media host this socket's server announces.
    const dispatcher = (ca: string) => mediaDispatcher(ca, async () => (await sock.refreshMediaConn(false)).hosts[0]?.hostname)
    const fetchOptions = ca ? { dispatcher: dispatcher(ca) } as RequestInit : undefined
    const sock: WASocket = makeWASocket({
      auth,
      logger: baileysLogger as never,
      browser: Browsers.ubuntu('Chrome'),
      ...(settings.WA_WS_URL ? { waWebSocketUrl: settings.WA_WS_URL } : {}),
      ...(fetchAgent ? { fetchAgent } : {}),
      ...(fetchOptions ? { options: fetchOptions } : {}),
      shouldSyncHistoryMessage: shouldSyncHistory,
      syncFullHistory: false,
      markOnlineOnConnect: false,
      fireInitQueries: false,
      generateHighQualityLinkPreview: false,
      emitOwnEvents: true
    })
    bootstrapAddressBook(sock, { fetchOptions, logger: log })
    return sock
  }
}

function readPem (path: string) {
  if (!existsSync(path)) throw new Error('WA_MEDIA_CA is neither PEM text nor a readable file')
  return readFileSync(path, 'utf8')
}

export type SocketFactory = ReturnType<typeof createSocketFactory>
