// Which media a status may carry, judged by the type read from the bytes (never a client's or a
// remote server's Content-Type). The API checks uploads and the worker checks media fetched from a
// URL against this one table.

/** The two media kinds of a status. */
export type MediaKind = 'image' | 'video'

/** How an accepted type is stored and sent to WhatsApp. */
export interface AcceptedMedia { mimeType: string, ext: string }

/**
 * WhatsApp plays these as they are (the server does not transcode); M4V is MP4 with Apple's brand,
 * so it is stored and sent as MP4.
 */
const ACCEPTED: Record<MediaKind, ReadonlyMap<string, AcceptedMedia>> = {
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

/** The accepted types of each kind, as the API's error messages name them. */
export const ACCEPTED_MEDIA_DESCRIPTION: Readonly<Record<MediaKind, string>> = { image: 'JPEG, PNG or WebP', video: 'MP4, 3GPP or QuickTime' }

/** How a media of `kind` whose bytes are `sniffedMime` is sent, or undefined when that type is not accepted. */
export function acceptedMedia (kind: MediaKind, sniffedMime: string | undefined): AcceptedMedia | undefined {
  return sniffedMime === undefined ? undefined : ACCEPTED[kind].get(sniffedMime)
}
