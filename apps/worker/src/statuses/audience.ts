import { jidDecode, type WASocket } from '@whiskeysockets/baileys'
import type { PrismaClient, Status } from '@wss/db'
import { AppError, parseAudienceSpec, type AudienceSpec } from '@wss/shared'
import { TransientRefusal } from '../commands/transient-refusal.ts'
import { chunked } from './chunked.ts'

/** Numbers asked of WhatsApp in one usync query. */
const LOOKUP_CHUNK = 500

export const jidOf = (number: string) => `${number}@s.whatsapp.net`

/** Who a status goes to, once resolved. */
export interface ResolvedAudience {
  /** The own number first, then every recipient, as JIDs, without repeats. */
  jids: string[]
  /** With a requested `audience`: numbers dropped because they are not on WhatsApp; null without one. */
  skipped: number | null
}

export interface ResolveDeps {
  prisma: PrismaClient
  /** At most this many recipients besides the own number (MAX_AUDIENCE). */
  maxAudience: number
}

/**
 * The numbers a status asks for: the session's address-book contacts but `except`, or a saved
 * list's numbers, and `targetNumbers`; digits only, without repeats, the own number left out.
 */
async function requestedNumbers (prisma: PrismaClient, status: Status, spec: AudienceSpec | null, own: string): Promise<string[]> {
  const numbers = new Set<string>()
  const add = (value: string) => {
    const digits = value.replace(/\D/g, '')
    if (digits !== '' && digits !== own) numbers.add(digits)
  }
  if (spec?.type === 'contacts') {
    const except = new Set(spec.except ?? [])
    const contacts = await prisma.contact.findMany({ where: { sessionId: status.sessionId, inAddressBook: true }, select: { phone: true } })
    for (const { phone } of contacts) if (!except.has(phone)) add(phone)
  } else if (spec?.type === 'list' && spec.id !== undefined) {
    const list = await prisma.audienceList.findFirst({ where: { id: spec.id, sessionId: status.sessionId }, select: { numbers: true } })
    if (list === null) throw new AppError('AUDIENCE_LIST_NOT_FOUND', `the audience list ${spec.id} was deleted before the status was sent`)
    list.numbers.forEach(add)
  }
  status.targetNumbers.forEach(add)
  return [...numbers]
}

/** The numbers WhatsApp knows, as the JIDs it answers, asked in chunks (Baileys' usync `contact` query). */
async function onWhatsApp (sock: WASocket, numbers: string[]): Promise<string[]> {
  const found = new Set<string>()
  for (const chunk of chunked(numbers, LOOKUP_CHUNK)) {
    let results: Array<{ jid: string, exists: unknown }> | undefined
    try {
      results = await sock.onWhatsApp(...chunk)
    } catch {
      throw new TransientRefusal(new AppError('SESSION_NOT_CONNECTED', 'the connection dropped while the audience was looked up on WhatsApp'))
    }
    for (const { jid, exists } of results ?? []) {
      const user = exists === true ? jidDecode(jid)?.user : undefined
      if (user !== undefined) found.add(jidOf(user))
    }
  }
  return [...found]
}

/**
 * Resolves a status's audience when it is sent: own number + (contacts − except, or the list) +
 * `targetNumbers`. More than `maxAudience` recipients besides the own number fails with
 * `AUDIENCE_TOO_LARGE` (never truncated). With a requested `audience`, the numbers not on WhatsApp
 * are dropped and counted; `targetNumbers` alone are sent to as given, as before audiences existed.
 */
export async function resolveAudience (deps: ResolveDeps, sock: WASocket, status: Status, ownJid: string): Promise<ResolvedAudience> {
  const own = jidDecode(ownJid)!.user
  const spec = parseAudienceSpec(status.audienceSpec)
  const numbers = await requestedNumbers(deps.prisma, status, spec, own)
  if (numbers.length > deps.maxAudience) {
    throw new AppError('AUDIENCE_TOO_LARGE', `the audience resolved to ${numbers.length} recipients besides the own number; at most ${deps.maxAudience} (MAX_AUDIENCE) are allowed`)
  }
  if (spec === null) return { jids: [ownJid, ...numbers.map(jidOf)], skipped: null }
  const known = await onWhatsApp(sock, numbers)
  return { jids: [ownJid, ...known.filter(j => j !== ownJid)], skipped: numbers.length - known.length }
}
