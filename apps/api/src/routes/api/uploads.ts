import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { ACCEPTED_MEDIA_DESCRIPTION, AppError, Ok, UploadResultSchema } from '@wss/shared'
import { apiResponses } from '../../schemas/responses.ts'
import { fieldError } from '../../lib/validation.ts'
import type { UploadKind } from '../../plugins/app/uploads.ts'
import multipart from '../../plugins/external/multipart.ts'
import { clientAddress } from '../../lib/client-address.ts'

/**
 * The multipart parser (busboy) rejects a body it cannot read (no boundary, a truncated part) with
 * a plain Error: that is the client's malformed request, a 400, not a server failure. Errors that
 * carry a status (file too large, too many parts) keep it.
 */
function malformed (err: unknown): unknown {
  if (!(err instanceof Error) || typeof (err as { statusCode?: unknown }).statusCode === 'number') return err
  return new AppError('BAD_REQUEST', 'The multipart/form-data body is malformed (missing boundary or truncated part)', undefined, { cause: err })
}

/** Reads the one file of a multipart request from `field`; 413 past MAX_UPLOAD_MB (the multipart limit). */
async function readFile (request: FastifyRequest, field: UploadKind): Promise<Buffer> {
  if (!request.isMultipart()) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Send the file as multipart/form-data in the field "${field}"`)
  }
  try {
    const file = await request.file()
    if (file === undefined) throw fieldError(`body.${field}`, 'is required: a multipart file field')
    if (file.fieldname !== field) {
      file.file.resume()
      throw fieldError(`body.${field}`, `is required: the file came in the field "${file.fieldname.slice(0, 40)}"`)
    }
    return await file.toBuffer()
  } catch (err) {
    throw malformed(err)
  }
}

const ROUTES: Record<UploadKind, { summary: string, description: string }> = {
  image: { summary: 'Upload an image to post as a status', description: '' },
  video: { summary: 'Upload a video to post as a status', description: '' },
  audio: {
    summary: 'Upload audio to post as a voice-note status (addition)',
    description: ' The upload becomes a voice note (OGG/Opus, as WhatsApp records one), without its tags (title, artist, ' +
      'encoder, comments): OGG/Opus is re-muxed, never re-encoded, MP3, M4A/AAC and WAV are converted (ffmpeg); an M4A ' +
      'whose MP4 brand says video (`mp42`, `isom`: a file sniffed as `video/mp4`) is audio when ffprobe reads only audio tracks in it; anything else is 415, as is audio that cannot be decoded; longer ' +
      'than `AUDIO_MAX_SECONDS`, or not converted (or probed) within `AUDIO_CONVERT_TIMEOUT_MS`, is 413; no ffmpeg at `FFMPEG_PATH`, or no ffprobe at ' +
      '`FFPROBE_PATH` for an MP4 branded as video, is 503 `DEPENDENCY_UNAVAILABLE`. The answer adds its ' +
      '`seconds` and `waveform`; `size` and `mimeType` are those of the stored voice note.'
  }
}

/** POST /api/upload-image, -video and -audio: the bytes decide the type; the server names the file. */
const uploads: FastifyPluginAsyncTypebox = async fastify => {
  // Multipart parsing only in this scope: @fastify/multipart adds hooks (two of them async) to
  // every route it is registered for, which cost ~10 % of the throughput of the cheap routes.
  await fastify.register(multipart)
  for (const kind of ['image', 'video', 'audio'] as const) {
    fastify.post(`/upload-${kind}`, {
      config: { multipartFile: { field: kind, description: ACCEPTED_MEDIA_DESCRIPTION[kind] } },
      schema: {
        tags: ['uploads'],
        summary: ROUTES[kind].summary,
        description: `Multipart field \`${kind}\`, at most \`MAX_UPLOAD_MB\`. The type is read from the bytes (415 ` +
          'otherwise). Pass the answered `filename` as `content` of send-status; an upload no status uses expires ' +
          'after `UPLOAD_TTL_HOURS`. Each client address may upload `UPLOAD_QUOTA_MB` within `UPLOAD_TTL_HOURS` ' +
          '(429 `UPLOAD_QUOTA_EXCEEDED` past it); a malformed multipart body is 400. ' +
          'An upload made with a scoped key can be posted by that key (and admin keys) only.' + ROUTES[kind].description,
        consumes: ['multipart/form-data'],
        response: apiResponses({ 201: Ok(UploadResultSchema) }, [400, 408, 413, 415, 503])
      }
    }, async (request, reply) => {
      const bytes = await readFile(request, kind)
      const result = await fastify.uploads.store(kind, bytes, clientAddress(request), request.keyScope?.keyId ?? null)
      return reply.code(201).send({ success: true, data: result })
    })
  }
}

export default uploads
