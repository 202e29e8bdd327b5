import { createHash } from 'node:crypto'
import { AppError, MAX_SCHEDULE_AHEAD_MS, normalizePhoneNumber, type AudienceSpec, type StatusRecord } from '@wss/shared'
import type { SendStatusBody } from '../schemas/statuses.ts'
import { fieldError } from './validation.ts'

/** Names the upload routes hand out: `${unixSeconds}-${hex}.${ext}`. */
export const UPLOAD_NAME = /^\d{1,20}-[0-9a-f]{4,64}\.[a-z0-9]{2,5}$/

/** A send-status request once checked: the fields of the status row it becomes, and its upload. */
export interface ValidSend extends Pick<StatusRecord, 'type' | 'content' | 'caption' | 'targetNumbers' | 'backgroundColor' | 'font'> {
  /** The upload named by `content` (image, video, audio), when it is not a URL. */
  upload: string | null
  /** When a scheduled status is due; null: sent at once. */
  scheduledAt: Date | null
  /** The requested audience (`except` normalised); null: `targetNumbers` only. */
  audience: AudienceSpec | null
}

/**
 * A list of numbers (a comma-separated string or an array: `targetNumbers`, `audience.except`, a
 * saved list's `numbers`), normalised and without repeats; more than `max` entries is a 400 naming
 * `field` before any of them is parsed.
 */
export function phoneNumbers (input: string | string[] | undefined, max: number, field: string): string[] {
  const raw = input === undefined ? [] : typeof input === 'string' ? input.split(',') : input
  let given = 0
  for (const entry of raw) if (entry.trim() !== '') given++
  if (given > max) throw fieldError(field, `holds ${given} numbers; at most ${max} (MAX_AUDIENCE) are allowed`)
  const numbers: string[] = []
  const seen = new Set<string>()
  raw.forEach((entry, index) => {
    if (entry.trim() === '') return
    const number = normalizePhoneNumber(entry)
    if (number === null) throw fieldError(`${field}[${index}]`, `"${entry.trim().slice(0, 40)}" ${INVALID_PHONE}`)
    if (!seen.has(number)) {
      seen.add(number)
      numbers.push(number)
    }
  })
  return numbers
}

/** The `audience` of a request checked: its fields fit its type, `except` normalised. Null when absent. */
function audienceSpec (input: AudienceSpec | undefined, max: number): AudienceSpec | null {
  if (input === undefined) return null
  if (input.type === 'list') {
    if (input.except !== undefined) throw fieldError('body.audience.except', 'is only allowed with type "contacts"')
    if (input.id === undefined) throw fieldError('body.audience.id', 'is required with type "list"')
    return { type: 'list', id: input.id.toLowerCase() }
  }
  if (input.id !== undefined) throw fieldError('body.audience.id', 'is only allowed with type "list"')
  const except = phoneNumbers(input.except, max, 'body.audience.except')
  return except.length === 0 ? { type: 'contacts' } : { type: 'contacts', except }
}

const INVALID_PHONE = 'is not a phone number with its country code (10–15 digits)'

function isHttpUrl (value: string): boolean {
  try {
    const url = new URL(value)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== ''
  } catch {
    return false
  }
}

function parseTime (value: string): Date {
  const at = new Date(value)
  if (Number.isNaN(at.getTime())) throw fieldError('body.scheduledAt', 'is not an ISO 8601 date-time')
  return at
}

/**
 * A schedule time checked against `now`: in the future and at most 30 days ahead, else a coded 400.
 * Apart from {@link validateSend}: a retried request (same Idempotency-Key) is answered even once its time has passed.
 */
export function checkScheduleTime (at: Date, now: number): Date {
  const field = 'body.scheduledAt'
  if (at.getTime() <= now) {
    throw new AppError('SCHEDULED_AT_PAST', `${field} (${at.toISOString()}) is not in the future: leave it out to send at once`, [{ field, message: 'is not in the future' }])
  }
  if (at.getTime() > now + MAX_SCHEDULE_AHEAD_MS) {
    throw new AppError('SCHEDULED_AT_TOO_FAR', `${field} (${at.toISOString()}) is more than 30 days ahead`, [{ field, message: 'is more than 30 days ahead' }])
  }
  return at
}

/**
 * Checks what the schema cannot express (rules that depend on `type`, the audience's size);
 * throws a 400 naming the field. A schedule time's range is {@link checkScheduleTime}'s.
 */
export function validateSend (body: SendStatusBody, maxAudience: number): ValidSend {
  const { type } = body
  const media = type === 'image' || type === 'video' || type === 'audio'
  // An empty caption (also what `null` is coerced to) means none, whatever the type.
  const caption = body.caption === undefined || body.caption === '' ? null : body.caption
  if ((!media || type === 'audio') && caption !== null) {
    throw fieldError('body.caption', 'is only allowed for image and video statuses')
  }
  if (media && body.backgroundColor !== undefined) {
    throw fieldError('body.backgroundColor', 'is only allowed for text and url statuses')
  }
  if (media && body.font !== undefined) {
    throw fieldError('body.font', 'is only allowed for text and url statuses')
  }
  const content = body.content
  let upload: string | null = null
  if (type === 'text' && content.trim() === '') throw fieldError('body.content', 'must not be blank')
  if (type === 'url' && !isHttpUrl(content.trim())) throw fieldError('body.content', 'must be an http(s) URL for url statuses')
  if (media) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(content)) {
      // Audio is converted to a voice note when uploaded, so it comes from uploads only.
      if (type === 'audio') throw fieldError('body.content', 'must be a filename answered by POST /api/upload-audio (audio statuses come from uploads only)')
      if (!isHttpUrl(content)) throw fieldError('body.content', 'must be an uploaded filename or an http(s) URL')
    } else if (UPLOAD_NAME.test(content)) {
      upload = content
    } else {
      throw new AppError('FILE_NOT_FOUND', `File ${content.slice(0, 80)} not found: upload it with POST /api/upload-${type} and pass the filename it answers`)
    }
  }

  const targetNumbers = phoneNumbers(body.targetNumbers, maxAudience, 'body.targetNumbers')
  return {
    type,
    content: type === 'url' ? content.trim() : content,
    caption,
    targetNumbers,
    backgroundColor: body.backgroundColor?.toLowerCase() ?? null,
    font: body.font ?? null,
    upload,
    scheduledAt: body.scheduledAt === undefined ? null : parseTime(body.scheduledAt),
    audience: audienceSpec(body.audience ?? undefined, maxAudience)
  }
}

/**
 * The fingerprint of a validated send: sha256 over its fields in a fixed order, the audience
 * sorted (it is a set), so equal requests hash alike however their JSON was spelled.
 */
export function requestHash (send: ValidSend): string {
  const canonical: unknown[] = [send.type, send.content, send.caption, [...send.targetNumbers].sort(), send.backgroundColor, send.font]
  // Only when set, so a status sent at once hashes as it did before scheduling existed.
  if (send.scheduledAt !== null) canonical.push(send.scheduledAt.toISOString())
  // Likewise only when set; a set (`except`) hashes sorted.
  if (send.audience !== null) canonical.push({ audience: [send.audience.type, send.audience.id ?? null, [...(send.audience.except ?? [])].sort()] })
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex')
}
