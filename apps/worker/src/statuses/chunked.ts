/** A list in pieces of at most `size` (stanzas of a status's audience, usync queries). */
export function chunked<T> (list: T[], size: number): T[][] {
  const chunks: T[][] = []
  for (let i = 0; i < list.length; i += size) chunks.push(list.slice(i, i + size))
  return chunks
}
