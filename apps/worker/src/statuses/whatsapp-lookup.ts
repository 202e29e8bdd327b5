import { getBinaryNodeChild, jidDecode, USyncQuery, USyncUser, type BinaryNode, type WASocket } from '@whiskeysockets/baileys'
import { AppError } from '@wss/shared'
import { TransientRefusal } from '../commands/transient-refusal.ts'
import { chunked } from './chunked.ts'

/** Numbers asked of WhatsApp in one usync query. */
const LOOKUP_CHUNK = 500

/** What WhatsApp answered for one looked-up number. */
interface ContactAnswer { type: string | undefined, asked: string | undefined, error: string | undefined }

/**
 * The usync `contact` protocol, keeping what Baileys' own parser drops: `in`, `out` or neither,
 * the number the answer is for (WhatsApp echoes it), and an `<error>` inside the answer.
 */
const contactProtocol: USyncQuery['protocols'][number] = {
  name: 'contact',
  getQueryElement: () => ({ tag: 'contact', attrs: {} }),
  getUserElement: (user: USyncUser) => ({ tag: 'contact', attrs: {}, content: user.phone }),
  parser: (node: BinaryNode): ContactAnswer => {
    const error = getBinaryNodeChild(node, 'error')
    const content = node.content instanceof Uint8Array ? Buffer.from(node.content).toString() : typeof node.content === 'string' ? node.content : undefined
    return {
      type: node.attrs.type,
      asked: content?.replace(/\D/g, '') || undefined,
      error: error ? `${error.attrs.code ?? '?'} ${error.attrs.text ?? ''}`.trim() : undefined
    }
  }
}

/** Whether the looked-up numbers are on WhatsApp: each number on it with its account's JID. */
export interface Lookup {
  /** Requested number → the `@s.whatsapp.net` JID of its account. */
  on: Map<string, string>
  /** Requested numbers WhatsApp answered `out` for. */
  out: Set<string>
}

const failed = (message: string) => new TransientRefusal(new AppError('WHATSAPP_REFUSED', message))

/** One usync query; a connection that closed under it is `SESSION_NOT_CONNECTED`, anything else a failed lookup. */
async function query (sock: WASocket, numbers: string[]) {
  const usync = new USyncQuery()
  usync.protocols.push(contactProtocol)
  for (const n of numbers) usync.withUser(new USyncUser().withPhone(`+${n}`))
  try {
    return await sock.executeUSyncQuery(usync)
  } catch (err) {
    // Baileys rejects a query whose connection closed with a Boom of status 428.
    const boom = err as { output?: { statusCode?: number }, message?: string }
    const closed = boom.output?.statusCode === 428 || /connection (closed|lost)/i.test(boom.message ?? '')
    if (closed) throw new TransientRefusal(new AppError('SESSION_NOT_CONNECTED', 'the connection dropped while the audience was looked up on WhatsApp'))
    throw failed(`WhatsApp did not answer the audience lookup: ${(err as Error).message}`)
  }
}

/**
 * Asks WhatsApp, in chunks, whether each number is on it. Every number must come back `in` (with
 * an `@s.whatsapp.net` JID) or `out`: a number missing from the answer, answered with an error or
 * with anything else is a failed lookup (a retryable `WHATSAPP_REFUSED`), never a skip.
 */
export async function lookUp (sock: WASocket, numbers: string[]): Promise<Lookup> {
  const lookup: Lookup = { on: new Map(), out: new Set() }
  for (const chunk of chunked(numbers, LOOKUP_CHUNK)) {
    const result = await query(sock, chunk)
    if (!result) throw failed('WhatsApp answered the audience lookup without a result')
    const asked = new Set(chunk)
    for (const entry of result.list as Array<{ id: string, contact?: ContactAnswer }>) {
      const answer = entry.contact
      const decoded = jidDecode(entry.id)
      // The number the answer is for: the echoed one, else the JID's user.
      const number = answer?.asked ?? decoded?.user
      if (answer === undefined || number === undefined || !asked.has(number) || answer.error !== undefined) continue
      if (answer.type === 'out') lookup.out.add(number)
      else if (answer.type === 'in' && decoded?.server === 's.whatsapp.net') lookup.on.set(number, `${decoded.user}@s.whatsapp.net`)
    }
    const unanswered = chunk.filter(n => !lookup.on.has(n) && !lookup.out.has(n))
    if (unanswered.length > 0) {
      throw failed(`WhatsApp did not say whether ${unanswered.length} of the audience's ${numbers.length} numbers are on WhatsApp; nothing was sent`)
    }
  }
  return lookup
}
