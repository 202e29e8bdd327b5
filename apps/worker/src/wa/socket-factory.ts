import { existsSync, readFileSync } from 'node:fs'
import { Agent } from 'node:https'
import { Browsers, makeWASocket, WA_CERT_DETAILS, type AuthenticationState, type WASocket } from '@whiskeysockets/baileys'
import type { Logger } from 'pino'

export interface WhatsAppSettings {
  WA_WS_URL?: string
  WA_TRUST_ROOT?: string
  WA_MEDIA_CA?: string
}

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
  const child = logger.child({ module: 'baileys' }, { level: baileysLevel })
  // History sync is off on purpose (DESIGN.md): Baileys' warning about it on every connect is noise.
  const baileysLogger = Object.assign(Object.create(child) as Logger, {
    warn: (obj: unknown, msg?: string, ...rest: unknown[]) => {
      const text = typeof obj === 'string' ? obj : msg
      if (text?.includes('DISABLING ALL SYNC')) return
      child.warn(obj as object, msg, ...rest)
    }
  })

  return (auth: AuthenticationState): WASocket => makeWASocket({
    auth,
    logger: baileysLogger as never,
    browser: Browsers.ubuntu('Chrome'),
    ...(settings.WA_WS_URL ? { waWebSocketUrl: settings.WA_WS_URL } : {}),
    ...(fetchAgent ? { fetchAgent } : {}),
    // The product needs contacts and receipts, not chat history: syncing it costs ~60 MB per session.
    shouldSyncHistoryMessage: () => false,
    syncFullHistory: false,
    markOnlineOnConnect: false,
    fireInitQueries: false,
    generateHighQualityLinkPreview: false,
    emitOwnEvents: true
  })
}

function readPem (path: string) {
  if (!existsSync(path)) throw new Error('WA_MEDIA_CA is neither PEM text nor a readable file')
  return readFileSync(path, 'utf8')
}

export type SocketFactory = ReturnType<typeof createSocketFactory>
