import { Type, type TSchema } from 'typebox'

/**
 * Success envelope of a list: `data` is the array v2 clients expect; `nextCursor` (an addition)
 * is present when the request paged with `limit` / `cursor`, and null on the last page.
 */
export function OkList<T extends TSchema> (item: T) {
  return Type.Object({
    success: Type.Literal(true),
    data: Type.Array(item),
    nextCursor: Type.Optional(Type.Union([Type.String(), Type.Null()], {
      description: 'Pass as `cursor` for the next page; null on the last page. Only present when paging.'
    }))
  })
}
