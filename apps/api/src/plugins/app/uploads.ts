import { createHash, randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import { fileTypeFromBuffer } from 'file-type'
import type { PrismaClient } from '@wss/db'
import { ACCEPTED_MEDIA_DESCRIPTION, AppError, acceptedMedia, type MediaKind, type UploadResult } from '@wss/shared'
import { fieldError } from '../../lib/validation.ts'
import { createVoiceNotes, type VoiceNotes } from '../../lib/voice-note.ts'

export type UploadKind = MediaKind

export interface UploadsDeps {
  prisma: PrismaClient
  /** An upload no status used expires after this long; also the quota's window. */
  ttlMs: number
  /** Bytes one client address may upload within `ttlMs`. */
  quotaBytes: number
  /** Turns audio uploads into voice notes (ffmpeg). */
  voiceNotes: VoiceNotes
}

const MB = 1024 * 1024
const inMb = (bytes: number) => `${Math.round((bytes / MB) * 10) / 10} MB`

/** Uploads live in Postgres, so any worker on any host reads them. */
export function createUploadsService (deps: UploadsDeps) {
  return {
    /**
     * Checks the type from the bytes (415 otherwise), names the file and stores it, within the
     * uploader's quota (429 `UPLOAD_QUOTA_EXCEEDED`), owned by the scoped key that sent it
     * (`ownerKeyId`; null for an admin key).
     */
    async store (kind: UploadKind, received: Buffer, clientAddress: string, ownerKeyId: string | null = null): Promise<UploadResult> {
      if (received.length === 0) throw fieldError(`body.${kind}`, 'is an empty file')
      const detected = (await fileTypeFromBuffer(received))?.mime
      // An M4A under a video brand (`mp42`, `isom`) is audio when its tracks are.
      const mime = kind === 'audio' ? await deps.voiceNotes.audioType(received, detected) : detected
      const accepted = acceptedMedia(kind, mime)
      if (accepted === undefined) {
        const seen = mime === undefined ? 'an unknown type' : mime
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', `The ${kind} must be ${ACCEPTED_MEDIA_DESCRIPTION[kind]}; its bytes are ${seen}`)
      }
      // Converted once, here, so every send of it is a plain upload of stored bytes.
      const voice = kind === 'audio' ? await deps.voiceNotes.fromUpload(received, mime!) : undefined
      const bytes = voice?.bytes ?? received
      // Server-chosen: a client's file name never becomes a name here.
      const filename = `${Math.floor(Date.now() / 1000)}-${randomBytes(8).toString('hex')}.${accepted.ext}`
      const data = {
        id: filename,
        kind,
        mimeType: accepted.mimeType,
        size: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        // Multipart buffers are never shared memory; Prisma's type only insists on it.
        data: bytes as Uint8Array as Uint8Array<ArrayBuffer>,
        expiresAt: new Date(Date.now() + deps.ttlMs),
        clientAddress,
        ownerKeyId,
        seconds: voice?.seconds ?? null,
        waveform: voice === undefined ? null : Uint8Array.from(voice.waveform)
      }
      await deps.prisma.$transaction(async tx => {
        // One uploader's requests take turns here, so parallel uploads cannot all pass the check.
        await tx.$queryRaw`SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext(${`upload-quota:${clientAddress}`}))) AS locked`
        const used = await tx.upload.aggregate({
          _sum: { size: true },
          where: { clientAddress, createdAt: { gt: new Date(Date.now() - deps.ttlMs) } }
        })
        const stored = used._sum.size ?? 0
        if (stored + bytes.length > deps.quotaBytes) throw quotaExceeded(stored, deps)
        await tx.upload.create({ data })
      }, { maxWait: 10_000, timeout: 30_000 })
      const result: UploadResult = { filename, size: bytes.length, mimeType: accepted.mimeType }
      return voice === undefined ? result : { ...result, seconds: voice.seconds, waveform: voice.waveform }
    }
  }
}

function quotaExceeded (stored: number, deps: UploadsDeps): AppError {
  const hours = Math.round((deps.ttlMs / 3_600_000) * 10) / 10
  return new AppError('UPLOAD_QUOTA_EXCEEDED',
    `Upload quota exceeded: this address uploaded ${inMb(stored)} in the last ${hours} h, and UPLOAD_QUOTA_MB allows ` +
    `${inMb(deps.quotaBytes)}; retry once older uploads have aged out`,
    { quotaBytes: deps.quotaBytes, usedBytes: stored })
}

export type UploadsService = ReturnType<typeof createUploadsService>

declare module 'fastify' {
  interface FastifyInstance {
    uploads: UploadsService
  }
}

export default fp(async function uploads (fastify) {
  fastify.decorate('uploads', createUploadsService({
    prisma: fastify.prisma,
    ttlMs: fastify.config.UPLOAD_TTL_HOURS * 60 * 60 * 1000,
    quotaBytes: Math.floor(fastify.config.UPLOAD_QUOTA_MB * MB),
    voiceNotes: createVoiceNotes({
      ffmpegPath: fastify.config.FFMPEG_PATH,
      ffprobePath: fastify.config.FFPROBE_PATH,
      timeoutMs: fastify.config.AUDIO_CONVERT_TIMEOUT_MS,
      maxSeconds: fastify.config.AUDIO_MAX_SECONDS,
      maxBytes: Math.floor(fastify.config.MAX_UPLOAD_MB * MB)
    })
  }))
}, { name: 'uploads' })
