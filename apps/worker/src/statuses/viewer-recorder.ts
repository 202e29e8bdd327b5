import { getBinaryNodeChildren, jidDecode, type BinaryNode, type WASocket } from '@whiskeysockets/baileys'
import type { PrismaClient } from '@wss/db'
import type { Logger } from 'pino'
import type { EventPublisher } from '../events.ts'
import type { SessionRuntime } from '../sessions/session-runtime.ts'
import { metrics } from '../lib/metrics.ts'

interface PendingView { sessionId: string, sock: WASocket, messageId: string, participant: string, at: Date, played: boolean }
interface ViewerRecorderDeps { prisma: PrismaClient, events: EventPublisher, logger: Logger, flushMs?: number, maxBatch?: number }
type RecordReceipt = (messageId: string, participant: string, ts: number, played: boolean) => void
interface ViewRow { sessionId: string, messageId: string, viewer: string, viewerLid: string | null, at: Date, played: boolean }

/**
 * Collects viewers from receipts and writes them in batches: the LIDs of a batch mapped to phone
 * numbers in one lookup per session, then one INSERT ... ON CONFLICT per flush (a viewer is one row:
 * the first view time is kept, and a `played` receipt, in the same batch or a later one, only sets
 * `played`), then one event per status with the new viewers only.
 */
export function createViewerRecorder (deps: ViewerRecorderDeps) {
  const pending: PendingView[] = []
  let timer: NodeJS.Timeout | undefined
  let flushing: Promise<void> = Promise.resolve()

  const schedule = () => {
    if (pending.length >= (deps.maxBatch ?? 1000)) { void flush(); return }
    timer ??= setTimeout(() => { void flush() }, deps.flushMs ?? 25)
  }

  function flush (): Promise<void> {
    clearTimeout(timer)
    timer = undefined
    const batch = pending.splice(0, pending.length)
    if (!batch.length) return flushing
    flushing = flushing.then(async () => {
      const done = metrics.viewerFlush.startTimer()
      await writeViewers(deps, await resolveViewers(batch))
      done()
    }).catch(err => deps.logger.error({ err }, 'viewer batch not written'))
    return flushing
  }

  return {
    /** Watches a session's socket for status receipts. */
    watch (runtime: SessionRuntime, sock: WASocket) {
      watchReceipts(sock, (messageId, participant, ts, played) => {
        pending.push({ sessionId: runtime.sessionId, sock, messageId, participant, at: new Date(ts * 1000), played })
        schedule()
      })
    },
    flush
  }
}

/** Maps LID viewers to phone numbers (one lookup per socket) and drops the sender's own phone. */
async function resolveViewers (batch: PendingView[]): Promise<ViewRow[]> {
  const pnByLid = new Map<string, string>()
  const lidsBySock = new Map<WASocket, Set<string>>()
  for (const v of batch) {
    if (!v.participant.endsWith('@lid')) continue
    let lids = lidsBySock.get(v.sock)
    if (!lids) lidsBySock.set(v.sock, lids = new Set())
    lids.add(v.participant)
  }
  for (const [sock, lids] of lidsBySock) {
    const pairs = await sock.signalRepository.lidMapping.getPNsForLIDs([...lids]).catch(() => null)
    for (const { lid, pn } of pairs ?? []) pnByLid.set(lid, pn)
  }
  const own = new Map<WASocket, string | undefined>()
  const rows: ViewRow[] = []
  for (const v of batch) {
    const lid = v.participant.endsWith('@lid')
    const number = jidDecode((lid && pnByLid.get(v.participant)) || v.participant)?.user
    if (!own.has(v.sock)) own.set(v.sock, jidDecode(v.sock.user?.id ?? '')?.user)
    if (!number || number === own.get(v.sock)) continue // the own phone is not a viewer
    rows.push({ sessionId: v.sessionId, messageId: v.messageId, viewer: number, viewerLid: lid ? jidDecode(v.participant)?.user ?? null : null, at: v.at, played: v.played })
  }
  return rows
}

/**
 * One INSERT for the batch, then one event per status with its new viewers. A viewer stays one row
 * (what the analytics count): its earliest view time is kept (a `played` frame may overtake its read
 * receipt), and a `played` receipt of a viewer already recorded only turns `played` on, announcing
 * no new viewer.
 */
async function writeViewers (deps: ViewerRecorderDeps, batch: ViewRow[]) {
  if (!batch.length) return
  // Six array parameters, not six per row: building thousands of bound values cost more than the insert.
  const written = await deps.prisma.$queryRaw<Array<{ status_id: string, session_id: string, viewer_number: string, viewed_at: Date, inserted: boolean }>>`
    WITH incoming AS (
      SELECT * FROM unnest(${batch.map(v => v.sessionId)}::text[], ${batch.map(v => v.messageId)}::text[], ${batch.map(v => v.viewer)}::text[],
        ${batch.map(v => v.viewerLid)}::text[], ${batch.map(v => v.at.toISOString())}::timestamptz[], ${batch.map(v => v.played)}::boolean[])
        AS i (session_id, message_id, viewer_number, viewer_lid, viewed_at, played)
    ),
    first_views AS (
      SELECT DISTINCT ON (s.id, i.viewer_number) s.id AS status_id, i.session_id, i.viewer_number, i.viewer_lid, i.viewed_at,
        bool_or(i.played) OVER (PARTITION BY s.id, i.viewer_number) AS played
      FROM incoming i JOIN statuses s ON s.session_id = i.session_id AND s.message_id = i.message_id
      ORDER BY s.id, i.viewer_number, i.viewed_at
    )
    INSERT INTO status_viewers (status_id, viewer_number, session_id, viewer_lid, viewed_at, played)
    SELECT status_id, viewer_number, session_id, viewer_lid, viewed_at, played FROM first_views
    ON CONFLICT (status_id, viewer_number) DO UPDATE
      SET played = status_viewers.played OR EXCLUDED.played, viewed_at = LEAST(status_viewers.viewed_at, EXCLUDED.viewed_at)
      WHERE (EXCLUDED.played AND NOT status_viewers.played) OR EXCLUDED.viewed_at < status_viewers.viewed_at
    RETURNING status_id, session_id, viewer_number, viewed_at, (xmax = 0) AS inserted`
  const inserted = written.filter(r => r.inserted)
  metrics.viewReceipts.inc(inserted.length)
  const byStatus = new Map<string, { sessionId: string, viewers: Array<{ viewerNumber: string, viewedAt: string }> }>()
  for (const r of inserted) {
    const entry = byStatus.get(r.status_id) ?? { sessionId: r.session_id, viewers: [] }
    entry.viewers.push({ viewerNumber: r.viewer_number, viewedAt: r.viewed_at.toISOString() })
    byStatus.set(r.status_id, entry)
  }
  for (const [statusId, { sessionId, viewers }] of byStatus) {
    viewers.sort((a, b) => a.viewedAt.localeCompare(b.viewedAt))
    deps.events.publish('status-viewers-update', { sessionId, statusId, viewers })
  }
}

/**
 * The status ids a viewer's `played` receipt frame names (a voice note or a video played). Baileys
 * reports a played receipt as a read one (`readTimestamp`), so it is told apart from its frame.
 */
function playedIds (node: BinaryNode): string[] {
  const { attrs } = node
  if (node.tag !== 'receipt' || attrs.type !== 'played' || attrs.from !== 'status@broadcast' || !attrs.participant || attrs.recipient || !attrs.id) return []
  const list = Array.isArray(node.content) ? node.content[0] : undefined
  return [attrs.id, ...(list === undefined ? [] : getBinaryNodeChildren(list, 'item').map(i => i.attrs.id).filter((id): id is string => !!id))]
}

/** Calls `record` for every status receipt the socket reports. */
function watchReceipts (sock: WASocket, record: RecordReceipt) {
  // Every decoded frame passes here before Baileys handles it: only played receipts are kept.
  sock.ws.on('frame', (frame: BinaryNode | Uint8Array) => {
    if (frame instanceof Uint8Array) return
    const { participant, t } = frame.attrs
    const ts = Number(t ?? 0)
    if (ts && participant) for (const id of playedIds(frame)) record(id, participant, ts, true)
  })
  sock.ev.on('message-receipt.update', updates => {
    for (const { key, receipt } of updates) {
      if (key.remoteJid !== 'status@broadcast' || !key.id || !receipt.userJid) continue
      const ts = Number(receipt.readTimestamp ?? receipt.playedTimestamp ?? 0)
      if (!ts) continue
      record(key.id, receipt.userJid, ts, !!receipt.playedTimestamp)
    }
  })
  // Receipts that arrive while the send's own upsert is buffered are folded into it.
  sock.ev.on('messages.upsert', ({ messages }) => {
    for (const m of messages) {
      if (m.key?.remoteJid !== 'status@broadcast' || !m.key.fromMe || !m.key.id) continue
      for (const r of m.userReceipt ?? []) {
        const ts = Number(r.readTimestamp ?? r.playedTimestamp ?? 0)
        if (r.userJid && ts) record(m.key.id, r.userJid, ts, !!r.playedTimestamp)
      }
    }
  })
}

export type ViewerRecorder = ReturnType<typeof createViewerRecorder>
