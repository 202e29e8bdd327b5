import { jidDecode, proto, type WASocket } from '@whiskeysockets/baileys'
import { StaleGenerationError, type PrismaClient } from '@wss/db'
import type { Logger } from 'pino'
import type { EventPublisher } from '../events.ts'
import type { SessionRuntime } from '../sessions/session-runtime.ts'
import { writeContacts, type ContactChange, type ContactCounts } from './contact-writes.ts'

/** What one event said about one contact; undefined fields say nothing. */
interface ContactNews {
  /** Address book: the saved name, or null when the phone removed the contact. */
  saved?: string | null
  pushName?: string
  lid?: string
}
interface Pending { runtime: SessionRuntime, sock: WASocket, jid: string, news: ContactNews }
interface ContactRecorderDeps { prisma: PrismaClient, events: EventPublisher, logger: Logger, flushMs?: number, maxBatch?: number }

/**
 * Keeps each session's contacts in Postgres: address-book entries from app-state sync (Baileys'
 * `contacts.upsert`), push names from history sync and from messages, LID ↔ number mappings.
 * Collects them and writes each session's batch in one fenced transaction (one statement per
 * kind of change, whatever its size), then publishes `contacts-updated` with the counts.
 */
export function createContactRecorder (deps: ContactRecorderDeps) {
  const pending: Pending[] = []
  let timer: NodeJS.Timeout | undefined
  let flushing: Promise<void> = Promise.resolve()

  const add = (runtime: SessionRuntime, sock: WASocket, jid: string | undefined | null, news: ContactNews) => {
    if (!jid) return
    pending.push({ runtime, sock, jid, news })
    if (pending.length >= (deps.maxBatch ?? 5000)) { void flush(); return }
    timer ??= setTimeout(() => { void flush() }, deps.flushMs ?? 200)
  }

  function flush (): Promise<void> {
    clearTimeout(timer)
    timer = undefined
    const batch = pending.splice(0, pending.length)
    if (!batch.length) return flushing
    flushing = flushing.then(() => writeBatch(deps, batch)).catch(err => deps.logger.error({ err }, 'contact batch not written'))
    return flushing
  }

  return {
    /** Watches a session's socket for contacts. */
    watch (runtime: SessionRuntime, sock: WASocket) {
      sock.ev.on('contacts.upsert', contacts => {
        // App-state `contact` mutations: a removal arrives as a contact without any name. A push
        // name buffered with it is merged in (`notify`).
        for (const c of contacts) add(runtime, sock, c.phoneNumber ?? c.id, { saved: c.name ?? null, lid: c.lid, pushName: c.notify })
      })
      sock.ev.on('contacts.update', contacts => {
        for (const c of contacts) if (c.notify) add(runtime, sock, c.id, { pushName: c.notify })
      })
      sock.ev.on('messaging-history.set', ({ contacts, lidPnMappings, syncType }) => {
        for (const c of contacts) {
          // Baileys' event buffer absorbs an address-book upsert into a push-name set it holds for
          // the same id: such a contact carries the upsert's phoneNumber (and name, unless removed).
          const saved = syncType === proto.HistorySync.HistorySyncType.PUSH_NAME && c.phoneNumber ? c.name ?? null : undefined
          if (c.notify || saved !== undefined) add(runtime, sock, c.phoneNumber ?? c.id, { pushName: c.notify, lid: c.lid, saved })
        }
        for (const m of lidPnMappings ?? []) add(runtime, sock, m.pn, { lid: m.lid })
      })
      sock.ev.on('lid-mapping.update', ({ lid, pn }) => add(runtime, sock, pn, { lid }))
    },
    flush
  }
}

/** Resolves LIDs to numbers, merges what the batch says per contact, writes each session's part. */
async function writeBatch (deps: ContactRecorderDeps, batch: Pending[]) {
  const bySession = new Map<SessionRuntime, Map<string, ContactChange>>()
  for (const item of batch) {
    const phone = await numberOf(item)
    if (!phone) continue
    let changes = bySession.get(item.runtime)
    if (!changes) bySession.set(item.runtime, changes = new Map())
    const change = changes.get(phone) ?? { phone }
    if (item.news.saved !== undefined) change.saved = item.news.saved
    if (item.news.pushName) change.pushName = item.news.pushName
    const lid = item.news.lid ? jidDecode(item.news.lid)?.user : undefined
    if (lid) change.lid = lid
    changes.set(phone, change)
  }
  for (const [runtime, changes] of bySession) {
    const sessionId = runtime.sessionId
    try {
      const counts: ContactCounts = await writeContacts(deps.prisma, sessionId, runtime.generation, [...changes.values()])
      const changed = counts.added + counts.updated + counts.removed
      if (changed > 0) deps.events.publish('contacts-updated', { sessionId, ...counts, changed })
    } catch (err) {
      if (err instanceof StaleGenerationError) deps.logger.warn({ sessionId }, 'contacts refused: generation is no longer current')
      else deps.logger.error({ err, sessionId }, 'contacts not written')
    }
  }
}

/** The contact's number (digits), the LID mapped through Baileys' store; undefined for groups and unknown LIDs. */
async function numberOf (item: Pending): Promise<string | undefined> {
  const decoded = jidDecode(item.jid)
  if (!decoded?.user) return undefined
  if (decoded.server === 's.whatsapp.net') return decoded.user
  if (decoded.server !== 'lid') return undefined
  const pn = await item.sock.signalRepository.lidMapping.getPNForLID(item.jid).catch(() => null)
  if (!pn) return undefined
  item.news.lid ??= item.jid
  return jidDecode(pn)?.user
}

export type ContactRecorder = ReturnType<typeof createContactRecorder>
