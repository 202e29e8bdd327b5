import fp from 'fastify-plugin'
import multipart from '@fastify/multipart'

/** Multipart uploads, one file per request, bounded by MAX_UPLOAD_MB. */
export default fp(async function multipartPlugin (fastify) {
  await fastify.register(multipart, {
    limits: {
      fileSize: Math.floor(fastify.config.MAX_UPLOAD_MB * 1024 * 1024),
      files: 1,
      fields: 10,
      parts: 12,
      fieldSize: 64 * 1024
    }
  })
}, { name: 'multipart' })
