import { DEF_MEDIA_HOST } from '@whiskeysockets/baileys'
import { Agent, buildConnector } from 'undici'

/**
 * The fetch dispatcher for Baileys' downloads when another server than WhatsApp is configured
 * (WA_MEDIA_CA set): Baileys addresses history-sync blobs to WhatsApp's default media host
 * (`mmg.whatsapp.net`, the proto carries only a path), so those connections go to the media host
 * the server announced in `media_conn` instead, trusting only `ca`. Other hosts are left alone.
 */
export function mediaDispatcher (ca: string, mediaHost: () => Promise<string | undefined>) {
  const tls = buildConnector({ ca })
  return new Agent({
    connect (opts, callback) {
      if (opts.hostname !== DEF_MEDIA_HOST) { tls(opts, callback); return }
      mediaHost().then(host => {
        if (!host) throw new Error('the server announced no media host')
        const target = new URL(`https://${host}`)
        // The announced host's certificate names localhost / its address, not WhatsApp's host.
        tls({ ...opts, hostname: target.hostname, host: target.host, port: target.port || '443', servername: 'localhost' }, callback)
      }).catch(err => callback(err as Error, null))
    }
  })
}
