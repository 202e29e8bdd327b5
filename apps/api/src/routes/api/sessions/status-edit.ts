import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Ok, StatusIdParamsSchema, StatusSchema } from '@wss/shared'
import { apiResponses } from '../../../schemas/responses.ts'
import { PatchStatusBodySchema } from '../../../schemas/statuses.ts'

const tags = ['statuses']

/** `PATCH /api/sessions/:sessionId/statuses/:statusId` (addition): edits a scheduled status. */
const statusEdit: FastifyPluginAsyncTypebox = async fastify => {
  const service = fastify.statuses

  fastify.patch('/:sessionId/statuses/:statusId', {
    schema: {
      tags,
      summary: 'Change the time or content of a scheduled status (addition)',
      description: 'Fields left out keep their value; `null` clears `caption`, `backgroundColor` or `font`. The same rules ' +
        'as `send-status` apply to the merged status (its `type` does not change). 409 `STATUS_NOT_SCHEDULED` once the ' +
        'status is no longer scheduled (it was sent, is being sent, failed or was cancelled).',
      params: StatusIdParamsSchema,
      body: PatchStatusBodySchema,
      response: apiResponses({ 200: Ok(StatusSchema) }, [400, 404, 409, 503])
    }
  }, async request => ({
    success: true as const,
    data: await service.patch(request.params.sessionId, request.params.statusId, request.body, request.keyScope ?? undefined)
  }))
}

export default statusEdit
