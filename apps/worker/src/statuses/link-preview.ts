// The link preview of a `url` status: title, description and thumbnail read from the page's <head>.
// Pages are hostile input: a streaming tokenizer (htmlparser2, linear in its input, no regexes)
// reads at most PAGE_MAX_BYTES and stops at </head>, every kept string is bounded, and the
// thumbnail comes through the same safe fetch, size-capped and checked by its bytes.
import { StringDecoder } from 'node:string_decoder'
import { fileTypeFromBuffer } from 'file-type'
import { Parser } from 'htmlparser2'
import { safeFetch, safeOpen, type OpenResponse, type SafeFetchOptions } from './safe-fetch.ts'

/** How much of a page is read for its preview: the <head> is almost always far smaller. */
export const PAGE_MAX_BYTES = 256 * 1024
/** Thumbnails larger than this are left out (WhatsApp shows them tiny anyway). */
export const THUMBNAIL_MAX_BYTES = 128 * 1024
const LIMITS = { title: 256, description: 1024, image: 2048 }

export interface PageMeta { title?: string, description?: string, image?: string }

export interface LinkPreview {
  'canonical-url': string
  'matched-text': string
  title: string
  description?: string
  jpegThumbnail?: Buffer
}

/** Collapses whitespace and cuts to `max` characters (never inside a surrogate pair). */
function bounded (value: string | undefined, max: number): string | undefined {
  if (value === undefined) return undefined
  const text = Array.from(value.slice(0, max * 2).replace(/\s+/g, ' ').trim()).slice(0, max).join('')
  return text === '' ? undefined : text
}

/**
 * A tokenizer fed chunk by chunk. `done` turns true at </head> or <body>, after which the rest of
 * the page is not needed.
 */
export function createHeadReader () {
  const meta: Record<string, string> = {}
  let title = ''
  let inTitle = false
  let done = false
  const parser = new Parser({
    onopentag (name, attrs) {
      if (name === 'body') done = true
      else if (name === 'title') inTitle = true
      else if (name === 'meta') {
        const key = (attrs.property ?? attrs.name)?.toLowerCase()
        // The first of each wins, as in browsers' and WhatsApp's own previews.
        if (key !== undefined && attrs.content !== undefined && !(key in meta)) meta[key] = attrs.content.slice(0, LIMITS.description * 2)
      }
    },
    ontext (text) { if (inTitle && title.length < LIMITS.title * 2) title += text },
    onclosetag (name) {
      if (name === 'title') inTitle = false
      if (name === 'head') done = true
    }
  }, { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true })
  return {
    get done () { return done },
    write (text: string) { if (!done) parser.write(text) },
    result (): PageMeta {
      parser.end()
      return {
        title: bounded(meta['og:title'], LIMITS.title) ?? bounded(title, LIMITS.title),
        description: bounded(meta['og:description'] ?? meta.description, LIMITS.description),
        image: bounded(meta['og:image'], LIMITS.image)
      }
    }
  }
}

/** Reads the page's head from an open response: at most PAGE_MAX_BYTES, stopping at </head>. */
function readHead (open: OpenResponse): Promise<PageMeta> {
  const reader = createHeadReader()
  const decoder = new StringDecoder('utf8')
  let size = 0
  let settled = false
  return new Promise((resolve, reject) => {
    const finish = () => {
      if (settled) return
      settled = true
      open.close()
      resolve(reader.result())
    }
    open.res.on('data', (chunk: Buffer) => {
      if (settled) return
      const room = PAGE_MAX_BYTES - size
      size += chunk.length
      reader.write(decoder.write(chunk.length > room ? chunk.subarray(0, room) : chunk))
      if (reader.done || size >= PAGE_MAX_BYTES) finish()
    })
    open.res.on('end', finish)
    open.res.on('error', err => { settled = true; open.close(); reject(err) })
  })
}

/** The page's JPEG thumbnail, when it has one within THUMBNAIL_MAX_BYTES (other formats are left out). */
async function thumbnail (image: string, pageUrl: string, fetch: SafeFetchOptions): Promise<Buffer | undefined> {
  const res = await safeFetch(new URL(image, pageUrl).toString(), { ...fetch, maxBytes: Math.min(fetch.maxBytes, THUMBNAIL_MAX_BYTES) })
  return (await fileTypeFromBuffer(res.body))?.mime === 'image/jpeg' ? res.body : undefined
}

/** A link preview when the page can be fetched and has a title, else null (the status goes as a plain link). */
export async function linkPreview (url: string, fetch: SafeFetchOptions): Promise<LinkPreview | null> {
  try {
    const open = await safeOpen(url, fetch)
    if (open.contentType?.toLowerCase().includes('html') !== true) { open.close(); return null }
    const page = await readHead(open)
    if (page.title === undefined) return null
    const jpegThumbnail = page.image === undefined ? undefined : await thumbnail(page.image, open.finalUrl, fetch).catch(() => undefined)
    return { 'canonical-url': open.finalUrl, 'matched-text': url, title: page.title, description: page.description, ...(jpegThumbnail ? { jpegThumbnail } : {}) }
  } catch {
    return null
  }
}
