import { Readable, pipeline } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { stringify } from 'csv-stringify'

/** A CSV cell: strings are quoted as RFC 4180 needs and neutralised against formula injection. */
export type Cell = string | number | boolean | null

/**
 * Streams rows as an RFC 4180 CSV attachment (CRLF line ends; fields with a comma, quote, CR or
 * LF quoted, quotes doubled), with csv-stringify: a string cell that starts with `=`, `+`, `-`,
 * `@`, tab or CR gets a leading `'`, so a spreadsheet shows it instead of evaluating it. Numbers
 * are written as they are.
 *
 * The first page is read before anything is sent, so a failure there (an unknown session, the
 * database) is still the JSON error envelope; a failure later ends the response early.
 */
export async function sendCsv (reply: FastifyReply, filename: string, header: string[], pages: AsyncIterator<Cell[][]>): Promise<FastifyReply> {
  const first = await pages.next()
  async function * records (): AsyncGenerator<Cell[]> {
    if (first.done === true) return
    yield * first.value
    for (let page = await pages.next(); page.done !== true; page = await pages.next()) yield * page.value
  }
  const csv = stringify({ header: true, columns: header, escape_formulas: true, record_delimiter: '\r\n', quoted_match: /[\r\n]/ })
  pipeline(Readable.from(records()), csv, err => {
    if (err !== undefined && err !== null) reply.log.warn({ err: err.message }, 'csv export ended early')
  })
  return reply
    .header('content-type', 'text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${filename.replace(/[^A-Za-z0-9._-]/g, '_')}"`)
    .send(csv)
}

/** An iterator over one page: small exports computed in full (an analytics series). */
export async function * onePage (rows: Cell[][]): AsyncGenerator<Cell[][]> {
  yield rows
}
