import { randomUUID } from 'node:crypto'
import { eventually, type Stack } from './stack.ts'

/**
 * Creates a session for `phone` through the API and links it as a person would: the pairing code
 * the API shows is typed on the simulated phone. Resolves with the session id once it is connected.
 */
export async function linkSession (stack: Stack, phone: string, prefix = 'e2e'): Promise<string> {
  const sessionId = `${prefix}-${randomUUID().slice(0, 6)}`
  const created = await stack.api('POST', '/api/sessions', { sessionId, sessionName: phone, phoneNumber: phone })
  if (created.status !== 201) throw new Error(`create failed: ${JSON.stringify(created.body)}`)
  let code: string | undefined
  await eventually(async () => {
    code = (await stack.api('GET', `/api/sessions/${sessionId}/pairing-code`)).body?.data?.pairingCode
    return !!code
  }, 20_000)
  const linked = await stack.sim.client.enterPairingCode(phone, code!)
  if (!linked.linked) throw new Error('link failed')
  const up = await eventually(async () => (await stack.api('GET', `/api/sessions/${sessionId}/connection-status`)).body?.data?.connected === true, 20_000)
  if (!up) throw new Error('session did not connect')
  return sessionId
}

/** The phones that decrypted `sender`'s status with this text, once it arrived (sorted). */
export async function reachedPhones (stack: Stack, sender: string, text: string): Promise<string[]> {
  let phones: string[] = []
  await eventually(async () => {
    const status = (await stack.sim.client.statuses(sender)).find(s => s.text === text)
    phones = status === undefined ? [] : [...new Set(status.recipients.filter(r => r.decrypted).map(r => r.phone))].sort()
    return phones.length > 0
  }, 20_000, 200)
  return phones
}
