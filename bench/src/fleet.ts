// A fleet of linked sessions kept between runs: the sessions' rows and auth state stay in the
// benchmark's database, the simulator's accounts and devices in its saved state. Missing sessions
// are linked through the product itself (create with a QR code, the simulated phone scans it).
import jsQRModule from 'jsqr'
import { PNG } from 'pngjs'
import { until, type Stack } from './harness.ts'

// jsqr is CommonJS: under NodeNext its default import types as the module, at run time it is the function.
const jsQR = jsQRModule as unknown as (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null

export const fleetSessionId = (i: number) => `fleet-${String(i).padStart(4, '0')}`
export const fleetPhone = (i: number) => `1555100${String(i).padStart(4, '0')}`

function qrText (dataUrl: string): string {
  const image = PNG.sync.read(Buffer.from(dataUrl.split(',')[1]!, 'base64'))
  const code = jsQR(new Uint8ClampedArray(image.data), image.width, image.height)
  if (!code) throw new Error('unreadable QR code')
  return code.data
}

/**
 * Makes sure sessions 0..n-1 exist and are linked. Linking needs workers: `withWorkers` starts
 * them and returns a function that stops them. Returns how many sessions had to be linked now.
 */
export async function ensureFleet (stack: Stack, n: number, withWorkers: () => Promise<() => Promise<void>>, log = console.log): Promise<number> {
  const rows = await stack.prisma.session.findMany({ select: { id: true, ownNumber: true } })
  const linked = new Set(rows.filter(r => r.ownNumber !== null).map(r => r.id))
  const accounts = new Set((await stack.sim.accounts()).filter(a => a.devices.length > 0).map(a => a.phone))
  const missing: number[] = []
  for (let i = 0; i < n; i++) if (!linked.has(fleetSessionId(i)) || !accounts.has(fleetPhone(i))) missing.push(i)
  if (missing.length === 0) return 0
  log(`fleet: linking ${missing.length} of ${n} sessions (once; kept in ${stack.statePath} and the database)`)
  const stopWorkers = await withWorkers()
  const t0 = Date.now()
  let next = 0
  let done = 0
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < missing.length) {
      const i = missing[next++]!
      // On a loaded machine a QR code can rotate between reading and scanning it: link again.
      for (let attempt = 1; ; attempt++) {
        try {
          await linkOne(stack, i)
          break
        } catch (err) {
          if (attempt >= 3) throw err
          log(`fleet: ${fleetSessionId(i)}: ${(err as Error).message}; linking again`)
        }
      }
      if (++done % 100 === 0) log(`fleet: ${done} / ${missing.length} linked (${Math.round((Date.now() - t0) / 1000)} s)`)
    }
  }))
  await stopWorkers()
  await stack.sim.saveState(stack.statePath)
  log(`fleet: ${missing.length} sessions linked in ${Math.round((Date.now() - t0) / 1000)} s, state saved`)
  return missing.length
}

/** Links session `i` through the product: create it with a QR code, the simulated phone scans it. */
async function linkOne (stack: Stack, i: number) {
  const sessionId = fleetSessionId(i)
  const phone = fleetPhone(i)
  await stack.sim.createAccount(phone).catch(() => undefined) // 409: exists
  await stack.api('DELETE', `/api/sessions/${sessionId}`)
  await stack.prisma.session.deleteMany({ where: { id: sessionId } })
  const created = await stack.api('POST', '/api/sessions', { sessionId, sessionName: `Fleet ${i}`, authMethod: 'qrcode' })
  if (created.status !== 201) throw new Error(`create ${sessionId}: ${created.status} ${JSON.stringify(created.body)}`)
  let qr: string | null = created.body.data.qrCode
  if (!qr) {
    await until(async () => {
      qr = (await stack.api('GET', `/api/sessions/${sessionId}/connection-status`)).body.data.qrCode
      return qr !== null
    }, 30_000, 100)
  }
  if (!qr) throw new Error(`${sessionId}: no QR code`)
  const scanned = await stack.sim.scanQr(phone, qrText(qr))
  if (!scanned.linked) throw new Error(`${sessionId}: scan failed`)
  if (!await until(async () => (await stack.api('GET', `/api/sessions/${sessionId}/connection-status`)).body.data.connected === true, 60_000, 200)) {
    throw new Error(`${sessionId} did not connect`)
  }
}
