import { createHash, randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import { fileTypeFromBuffer } from 'file-type'
import type { PrismaClient } from '@wss/db'
import { ACCEPTED_MEDIA_DESCRIPTION, AppError, acceptedMedia, type MediaKind, type UploadResult } from '@wss/shared'
import { fieldError } from '../../lib/validation.ts'

export type UploadKind = MediaKind

export interface UploadsDeps {
  prisma: PrismaClient
  /** An upload no status used expires after this long. */
  ttlMs: number
}

/** Uploads live in Postgres, so any worker on any host reads them. */
export function createUploadsService (deps: UploadsDeps) {
  return {
    /** Checks the type from the bytes (415 otherwise), names the file and stores it. */
    async store (kind: UploadKind, bytes: Buffer): Promise<UploadResult> {
      if (bytes.length === 0) throw fieldError(`body.${kind}`, 'is an empty file')
      const detected = await fileTypeFromBuffer(bytes)
      const accepted = acceptedMedia(kind, detected?.mime)
      if (accepted === undefined) {
        const seen = detected === undefined ? 'an unknown type' : detected.mime
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', `The ${kind} must be ${ACCEPTED_MEDIA_DESCRIPTION[kind]}; its bytes are ${seen}`)
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
          expiresAt: new Date(Date.now() + deps.ttlMs)
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
