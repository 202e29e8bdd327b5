import { DisconnectReason } from '@whiskeysockets/baileys'

const reasonNames = new Map(Object.entries(DisconnectReason).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v as number, k]))

/** A bounded metrics label for a close code: Baileys' reason name, `unknown` without a code, `other` otherwise. */
export function disconnectReason (code: number | undefined): string {
  if (code === undefined) return 'unknown'
  return reasonNames.get(code) ?? 'other'
}
