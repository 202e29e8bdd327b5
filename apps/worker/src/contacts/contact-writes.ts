import { withSessionGeneration, type PrismaClient, type Tx } from '@wss/db'

/** What a batch says about one contact of a session; undefined fields leave the row as it is. */
export interface ContactChange {
  phone: string
  /** Address book: the saved name (in the address book), or null (removed from it). */
  saved?: string | null
  pushName?: string
  lid?: string
}

/** `contacts-updated` counts: entered the address book, other changes, left it, now in it. */
export interface ContactCounts { added: number, updated: number, removed: number, total: number }

interface Written { inserted: boolean, now_in: boolean, was_in: boolean | null }

/**
 * Writes one session's batch in one transaction fenced by the owner's generation: address-book
 * changes, then push names (new rows for unknown numbers), then LIDs (known rows only). Each is
 * one statement over arrays, whatever the batch size; rows that would not change are not touched,
 * so `updatedAt` moves only on a real change.
 */
export async function writeContacts (prisma: PrismaClient, sessionId: string, generation: bigint, changes: ContactChange[]): Promise<ContactCounts> {
  const book = changes.filter(c => c.saved !== undefined)
  const names = changes.filter(c => c.saved === undefined && c.pushName)
  const lids = changes.filter(c => c.saved === undefined && !c.pushName && c.lid)
  return withSessionGeneration(prisma, sessionId, generation, async tx => {
    const written = [...await writeAddressBook(tx, sessionId, book), ...await writePushNames(tx, sessionId, names), ...await writeLids(tx, sessionId, lids)]
    const counts: ContactCounts = { added: 0, updated: 0, removed: 0, total: 0 }
    for (const w of written) {
      if (w.now_in && !w.was_in) counts.added++
      else if (!w.now_in && w.was_in) counts.removed++
      else counts.updated++
    }
    const [row] = await tx.$queryRaw<Array<{ n: bigint }>>`SELECT count(*) AS n FROM contacts WHERE session_id = ${sessionId} AND in_address_book`
    counts.total = Number(row?.n ?? 0)
    return counts
  }, { timeout: 60_000 })
}

function writeAddressBook (tx: Tx, sessionId: string, rows: ContactChange[]) {
  if (!rows.length) return Promise.resolve([])
  return tx.$queryRaw<Written[]>`
    WITH incoming AS (
      SELECT * FROM unnest(${rows.map(r => r.phone)}::text[], ${rows.map(r => r.saved ?? null)}::text[],
        ${rows.map(r => r.pushName ?? null)}::text[], ${rows.map(r => r.lid ?? null)}::text[]) AS i (phone, name, push_name, lid)
    ),
    old AS (SELECT c.phone, c.in_address_book FROM contacts c JOIN incoming i USING (phone) WHERE c.session_id = ${sessionId}),
    up AS (
      INSERT INTO contacts (session_id, phone, lid, name, push_name, in_address_book, updated_at)
      SELECT ${sessionId}::text, phone, lid, name, push_name, name IS NOT NULL, now() FROM incoming
      ON CONFLICT (session_id, phone) DO UPDATE SET
        name = EXCLUDED.name,
        in_address_book = EXCLUDED.in_address_book,
        lid = COALESCE(EXCLUDED.lid, contacts.lid),
        push_name = COALESCE(EXCLUDED.push_name, contacts.push_name),
        updated_at = now()
      WHERE contacts.name IS DISTINCT FROM EXCLUDED.name OR contacts.in_address_book <> EXCLUDED.in_address_book
        OR (EXCLUDED.lid IS NOT NULL AND contacts.lid IS DISTINCT FROM EXCLUDED.lid)
        OR (EXCLUDED.push_name IS NOT NULL AND contacts.push_name IS DISTINCT FROM EXCLUDED.push_name)
      RETURNING phone, in_address_book
    )
    SELECT old.phone IS NULL AS inserted, up.in_address_book AS now_in, old.in_address_book AS was_in
    FROM up LEFT JOIN old USING (phone)`
}

function writePushNames (tx: Tx, sessionId: string, rows: ContactChange[]) {
  if (!rows.length) return Promise.resolve([])
  return tx.$queryRaw<Written[]>`
    WITH incoming AS (
      SELECT * FROM unnest(${rows.map(r => r.phone)}::text[], ${rows.map(r => r.pushName!)}::text[], ${rows.map(r => r.lid ?? null)}::text[])
        AS i (phone, push_name, lid)
    ),
    up AS (
      INSERT INTO contacts (session_id, phone, lid, push_name, in_address_book, updated_at)
      SELECT ${sessionId}::text, phone, lid, push_name, false, now() FROM incoming
      ON CONFLICT (session_id, phone) DO UPDATE SET
        push_name = EXCLUDED.push_name,
        lid = COALESCE(EXCLUDED.lid, contacts.lid),
        updated_at = now()
      WHERE contacts.push_name IS DISTINCT FROM EXCLUDED.push_name
        OR (EXCLUDED.lid IS NOT NULL AND contacts.lid IS DISTINCT FROM EXCLUDED.lid)
      RETURNING in_address_book
    )
    SELECT false AS inserted, in_address_book AS now_in, in_address_book AS was_in FROM up`
}

// A LID alone does not make a contact (every message names its sender by one): known rows only.
function writeLids (tx: Tx, sessionId: string, rows: ContactChange[]) {
  if (!rows.length) return Promise.resolve([])
  return tx.$queryRaw<Written[]>`
    UPDATE contacts c SET lid = i.lid, updated_at = now()
    FROM unnest(${rows.map(r => r.phone)}::text[], ${rows.map(r => r.lid!)}::text[]) AS i (phone, lid)
    WHERE c.session_id = ${sessionId} AND c.phone = i.phone AND c.lid IS DISTINCT FROM i.lid
    RETURNING false AS inserted, c.in_address_book AS now_in, c.in_address_book AS was_in`
}
