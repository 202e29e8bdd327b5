import { jidDecode, type WASocket } from '@whiskeysockets/baileys'
import type { PrismaClient, Status } from '@wss/db'
import { AppError, audienceListGoneReason, audienceTooLargeReason, parseAudienceSpec, type AudienceSpec } from '@wss/shared'
import { lookUp } from './whatsapp-lookup.ts'

export const jidOf = (number: string) => `${number}@s.whatsapp.net`

/** Who a status goes to, once resolved. */
export interface ResolvedAudience {
  /** The own number first, then every recipient, as JIDs, without repeats. */
  jids: string[]
  /** With a requested `audience`: requested numbers WhatsApp answered are not on it; null without one. */
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
    if (list === null) throw new AppError('AUDIENCE_LIST_NOT_FOUND', audienceListGoneReason(spec.id))
    list.numbers.forEach(add)
  }
  status.targetNumbers.forEach(add)
  return [...numbers]
}

/**
 * Resolves a status's audience when it is sent: own number + (contacts − except, or the list) +
 * `targetNumbers`. More than `maxAudience` recipients besides the own number fails with
 * `AUDIENCE_TOO_LARGE` (never truncated). With a requested `audience`, the numbers WhatsApp answers
 * are not on it are dropped and counted; a lookup WhatsApp does not fully answer fails the send
 * (retried, {@link lookUp}); `targetNumbers` alone are sent to as given, as before audiences existed.
 */
export async function resolveAudience (deps: ResolveDeps, sock: WASocket, status: Status, ownJid: string): Promise<ResolvedAudience> {
  const own = jidDecode(ownJid)!.user
  const spec = parseAudienceSpec(status.audienceSpec)
  const numbers = await requestedNumbers(deps.prisma, status, spec, own)
  if (numbers.length > deps.maxAudience) {
    throw new AppError('AUDIENCE_TOO_LARGE', audienceTooLargeReason(numbers.length, deps.maxAudience))
  }
  if (spec === null) return { jids: [ownJid, ...numbers.map(jidOf)], skipped: null }
  const { on, out } = await lookUp(sock, numbers)
  // Counted per requested number: two numbers of one account are one recipient, not a skip.
  const recipients = new Set([...on.values()].filter(j => j !== ownJid))
  return { jids: [ownJid, ...recipients], skipped: out.size }
}
