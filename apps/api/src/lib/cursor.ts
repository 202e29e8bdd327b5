import { fieldError } from './validation.ts'

/** Page size when a list is given a cursor but no limit. */
const DEFAULT_PAGE_SIZE = 100

export interface Page { take: number, after: unknown[] | null }

/**
 * Reads `limit` / `cursor` of a list request. Returns null when neither is given: the caller
 * answers the whole list (v2 clients expect that). Cursors are opaque to clients: base64url
 * JSON of the last row's sort key.
 */
export function readPage (query: { limit?: number, cursor?: string }): Page | null {
  if (query.limit === undefined && query.cursor === undefined) return null
  return { take: query.limit ?? DEFAULT_PAGE_SIZE, after: query.cursor === undefined ? null : decodeCursor(query.cursor) }
}

function encodeCursor (key: unknown[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url')
}

function decodeCursor (cursor: string): unknown[] {
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown
    if (Array.isArray(key) && key.length > 0) return key
  } catch {}
  throw fieldError('querystring.cursor', 'is not a cursor this list handed out')
}

/** Reads a cursor's ISO date at `index`; a 400 when the cursor was not ours. */
export function cursorDate (key: unknown[], index: number): Date {
  const value = key[index]
  const date = typeof value === 'string' ? new Date(value) : null
  if (date === null || Number.isNaN(date.getTime())) throw fieldError('querystring.cursor', 'is not a cursor this list handed out')
  return date
}

/** Reads a cursor's string at `index`; a 400 when the cursor was not ours. */
export function cursorString (key: unknown[], index: number): string {
  const value = key[index]
  if (typeof value !== 'string') throw fieldError('querystring.cursor', 'is not a cursor this list handed out')
  return value
}

/** Splits a `take + 1` result into the page and the cursor of the next one (null on the last page). */
export function paginate<T> (rows: T[], take: number, keyOf: (row: T) => unknown[]): { items: T[], nextCursor: string | null } {
  if (rows.length <= take) return { items: rows, nextCursor: null }
  const items = rows.slice(0, take)
  return { items, nextCursor: encodeCursor(keyOf(items[items.length - 1]!)) }
}

/**
 * The keyset condition of a list ordered by (createdAt, id): rows after the cursor's. `validId`
 * refuses an id no row can have (a cursor from another list), which then matches nothing.
 */
export function afterCreatedAt (after: unknown[] | null, validId: (id: string) => boolean = () => true) {
  if (after === null) return {}
  const createdAt = cursorDate(after, 0)
  const id = cursorString(after, 1)
  if (!validId(id)) return { id: { in: [] } }
  return { OR: [{ createdAt: { gt: createdAt } }, { createdAt, id: { gt: id } }] }
}
