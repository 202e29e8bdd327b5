// Which media a status may carry, judged by the type read from the bytes (never a client's or a
// remote server's Content-Type). The API checks uploads and the worker checks media fetched from a
// URL against this one table.

/** The media kinds of a status. */
export type MediaKind = 'image' | 'video' | 'audio'

/** How an accepted type is stored and sent to WhatsApp. */
export interface AcceptedMedia { mimeType: string, ext: string }

/** A voice note as WhatsApp records one: Opus in an OGG container. */
const VOICE_NOTE: AcceptedMedia = { mimeType: 'audio/ogg; codecs=opus', ext: 'ogg' }

/**
 * Images and videos: WhatsApp plays these as they are (the server does not transcode them); M4V is
 * MP4 with Apple's brand, so it is stored and sent as MP4. Audio: OGG/Opus is kept (re-muxed without
 * its tags), the others are converted to it when uploaded (the API's voice-note module), so every audio upload
 * is a voice note.
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
  ]),
  audio: new Map([
    ['audio/ogg; codecs=opus', VOICE_NOTE],
    ['audio/mpeg', VOICE_NOTE],
    ['audio/x-m4a', VOICE_NOTE],
    ['audio/mp4', VOICE_NOTE],
    ['audio/aac', VOICE_NOTE],
    ['audio/wav', VOICE_NOTE]
  ])
}

/** The accepted types of each kind, as the API's error messages name them. */
export const ACCEPTED_MEDIA_DESCRIPTION: Readonly<Record<MediaKind, string>> = {
  image: 'JPEG, PNG or WebP',
  video: 'MP4, 3GPP or QuickTime',
  audio: 'OGG/Opus, MP3, M4A/AAC or WAV'
}

/** How a media of `kind` whose bytes are `sniffedMime` is sent, or undefined when that type is not accepted. */
export function acceptedMedia (kind: MediaKind, sniffedMime: string | undefined): AcceptedMedia | undefined {
  return sniffedMime === undefined ? undefined : ACCEPTED[kind].get(sniffedMime)
}
