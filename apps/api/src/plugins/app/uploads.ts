import { createHash, randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import { fileTypeFromBuffer } from 'file-type'
import type { PrismaClient } from '@wss/db'
import { AppError, type UploadResult } from '@wss/shared'
import { fieldError } from '../../lib/validation.ts'

export type UploadKind = 'image' | 'video'

/**
 * What each kind accepts, by the type read from the bytes, and the extension it is stored
 * under. WhatsApp plays these as they are (the server does not transcode); M4V is MP4 with
 * Apple's brand, so it is stored as MP4.
 */
const ACCEPTED: Record<UploadKind, Map<string, { mimeType: string, ext: string }>> = {
  image: new Map([
    ['image/jpeg', { mimeType: 'image/jpeg', ext: 'jpg' }],
    ['image/png', { mimeType: 'image/png', ext: 'png' }],
    ['image/webp', { mimeType: 'image/webp', ext: 'webp' }]
  ]),
  video: new Map([
    ['video/mp4', { mimeType: 'video/mp4', ext: 'mp4' }],
    ['video/x-m4v', { mimeType: 'video/mp4', ext: 'mp4' }],
    ['video/3gpp', { mimeType: 'video/3gpp', ext: '3gp' }],
    ['video/quicktime', { mimeType: 'video/quicktime', ext: 'mov' }]
  ])
}
const DESCRIBED: Record<UploadKind, string> = { image: 'JPEG, PNG or WebP', video: 'MP4, 3GPP or QuickTime' }

export interface UploadsDeps {
  prisma: PrismaClient
  /** An upload no status used expires after this long. */
  ttlMs: number
}

/** Uploads live in Postgres, so any worker on any host reads them. */
export function createUploadsService (deps: UploadsDeps) {
  return {
    /**
     * Checks the type from the bytes (415 otherwise), names the file and stores it, owned by the
     * scoped key that sent it (`ownerKeyId`; null for an admin key).
     */
    async store (kind: UploadKind, bytes: Buffer, ownerKeyId: string | null = null): Promise<UploadResult> {
      if (bytes.length === 0) throw fieldError(`body.${kind}`, 'is an empty file')
      const detected = await fileTypeFromBuffer(bytes)
      const accepted = detected === undefined ? undefined : ACCEPTED[kind].get(detected.mime)
      if (accepted === undefined) {
        const seen = detected === undefined ? 'an unknown type' : detected.mime
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', `The ${kind} must be ${DESCRIBED[kind]}; its bytes are ${seen}`)
      }
      // Server-chosen: a client's file name never becomes a name here.
      const filename = `${Math.floor(Date.now() / 1000)}-${randomBytes(8).toString('hex')}.${accepted.ext}`
      await deps.prisma.upload.create({
        data: {
          id: filename,
          kind,
          mimeType: accepted.mimeType,
          size: bytes.length,
          sha256: createHash('sha256').update(bytes).digest('hex'),
          // Multipart buffers are never shared memory; Prisma's type only insists on it.
          data: bytes as Uint8Array as Uint8Array<ArrayBuffer>,
          expiresAt: new Date(Date.now() + deps.ttlMs),
          ownerKeyId
        }
      })
      return { filename, size: bytes.length, mimeType: accepted.mimeType }
    }
  }
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
    ttlMs: fastify.config.UPLOAD_TTL_HOURS * 60 * 60 * 1000
  }))
}, { name: 'uploads' })
