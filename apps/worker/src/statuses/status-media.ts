// The bytes of an image, video or audio status and the mimetype WhatsApp gets: from an upload (checked,
// and for audio converted to a voice note, by the API when it was stored) or, for images and videos,
// fetched from the status's URL, where the remote Content-Type is never trusted: the type is read
// from the bytes and must be one the API accepts for uploads too.
import type { PrismaClient, Status } from '@wss/db'
import { ACCEPTED_MEDIA_DESCRIPTION, AppError, acceptedMedia } from '@wss/shared'
import { fileTypeFromBuffer } from 'file-type'
import { FetchError, safeFetch, type SafeFetchOptions } from './safe-fetch.ts'

export interface StatusMedia {
  bytes: Buffer
  mimetype: string
  /** Audio (a voice note) only: its length and waveform, computed when it was uploaded. */
  seconds?: number
  waveform?: Uint8Array
}

/** Loads the media of an image, video or audio status; an `AppError` says why it cannot be sent. */
export async function loadStatusMedia (status: Status, deps: { prisma: PrismaClient, fetch: SafeFetchOptions }): Promise<StatusMedia> {
  const kind = status.type === 'video' ? 'video' : 'image'
  if (status.uploadId) {
    const upload = await deps.prisma.upload.findUnique({ where: { id: status.uploadId } })
    if (!upload) throw new AppError('FILE_NOT_FOUND', `upload ${status.uploadId} no longer exists`)
    const media: StatusMedia = { bytes: Buffer.from(upload.data), mimetype: upload.mimeType }
    if (upload.seconds !== null) media.seconds = upload.seconds
    if (upload.waveform !== null) media.waveform = new Uint8Array(upload.waveform)
    return media
  }
  if (status.type === 'audio') throw new AppError('FILE_NOT_FOUND', 'an audio status needs an upload (POST /api/upload-audio)')
  let bytes: Buffer
  try {
    bytes = (await safeFetch(status.content, deps.fetch)).body
  } catch (err) {
    if (err instanceof FetchError) throw new AppError('BAD_REQUEST', `media could not be fetched: ${err.message}`)
    throw err
  }
  const detected = bytes.length === 0 ? undefined : await fileTypeFromBuffer(bytes)
  const accepted = acceptedMedia(kind, detected?.mime)
  if (accepted === undefined) {
    const seen = detected === undefined ? 'an unknown type' : detected.mime
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `the ${kind} at the URL must be ${ACCEPTED_MEDIA_DESCRIPTION[kind]}; its bytes are ${seen}`)
  }
  return { bytes, mimetype: accepted.mimeType }
}
