// A fleet of linked sessions built without QR codes: for each session, fresh credentials with real
// keys (as a client generates them), linked by the simulated phone as a scan would (the simulator's
// `POST /sim/accounts/P/devices`: the ADV identity signed by the account, with its HMAC), turned into
// credentials by Baileys' own configureSuccessfulPairing, and written into the product's tables as
// the worker would have written them (session row, auth_creds, the pre-keys in auth_keys). Linking
// over sockets costs ~480 ms of CPU per device (two Noise handshakes, 812 pre-keys); this ~5 ms.
import { BufferJSON } from '@whiskeysockets/baileys'
import { provisionAuth } from '@wss/wa-sim/testing'
import type { Stack } from './harness.ts'
import { fleetPhone, fleetSessionId } from './fleet.ts'

const BATCH = 200

export interface ProvisionOptions {
  /**
   * One-time pre-keys per device (the server's count and the worker's auth_keys rows). A socket
   * link uploads 812; any count above Baileys' minimum (5) makes a login check and upload nothing,
   * as with 812. Fewer keep the simulator's state file under V8's string limit at 10,000 devices.
   */
  preKeys?: number
  concurrency?: number
  log?: (line: string) => void
}

/**
 * Makes sure sessions 0..n-1 exist and are linked, provisioning the missing ones. Returns how many
 * were provisioned now. The simulator state is saved afterwards (the kept fleet).
 */
export async function provisionFleet (stack: Stack, n: number, opts: ProvisionOptions = {}): Promise<number> {
  const log = opts.log ?? console.log
  const preKeys = opts.preKeys ?? 30
  const rows = await stack.prisma.session.findMany({ select: { id: true, ownNumber: true } })
  const linked = new Set(rows.filter(r => r.ownNumber !== null).map(r => r.id))
  const accounts = new Set((await stack.sim.accounts()).filter(a => a.devices.length > 0).map(a => a.phone))
  const missing: number[] = []
  for (let i = 0; i < n; i++) if (!linked.has(fleetSessionId(i)) || !accounts.has(fleetPhone(i))) missing.push(i)
  if (missing.length === 0) return 0
  log(`fleet: provisioning ${missing.length} of ${n} linked sessions (${preKeys} pre-keys each; kept in ${stack.statePath} and the database)`)
  const t0 = Date.now()
  const cpu0 = process.cpuUsage()
  for (let start = 0; start < missing.length; start += BATCH) {
    const batch = missing.slice(start, start + BATCH)
    const made: Array<{ i: number, creds: string, ownLid: string, keys: Array<[string, string]> }> = []
    let next = 0
    await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, async () => {
      while (next < batch.length) {
        const i = batch[next++]!
        const phone = fleetPhone(i)
        await stack.sim.createAccount(phone).catch(() => undefined) // 409: it exists (a device is added)
        const auth = await provisionAuth(stack.sim, phone, preKeys)
        const keys = Object.entries(auth.keys['pre-key'] ?? {}).map(([id, v]) => [id, JSON.stringify(v, BufferJSON.replacer)] as [string, string])
        made.push({ i, creds: JSON.stringify(auth.creds, BufferJSON.replacer), ownLid: auth.lid.split(':')[0]!.split('@')[0]!, keys })
      }
    }))
    await writeSessions(stack, made)
    log(`fleet: ${Math.min(start + BATCH, missing.length)} / ${missing.length} provisioned (${Math.round((Date.now() - t0) / 1000)} s)`)
  }
  await stack.sim.saveState(stack.statePath)
  const cpu = process.cpuUsage(cpu0)
  log(`fleet: ${missing.length} sessions provisioned in ${Math.round((Date.now() - t0) / 1000)} s (${((cpu.user + cpu.system) / 1000 / missing.length).toFixed(1)} ms of this process's CPU each), state saved`)
  return missing.length
}

/** The rows a linked, stopped session has: its row, its creds, its pre-keys. */
async function writeSessions (stack: Stack, made: Array<{ i: number, creds: string, ownLid: string, keys: Array<[string, string]> }>) {
  const ids = made.map(m => fleetSessionId(m.i))
  await stack.prisma.session.deleteMany({ where: { id: { in: ids } } })
  const linkedAt = new Date()
  await stack.prisma.session.createMany({
    data: made.map(m => ({ id: fleetSessionId(m.i), name: `Fleet ${m.i}`, authMethod: 'qrcode' as const, ownNumber: fleetPhone(m.i), ownLid: m.ownLid, state: 'connecting' as const, linkedAt }))
  })
  await stack.prisma.$executeRaw`
    INSERT INTO auth_creds (session_id, creds, updated_at)
    SELECT s, c::jsonb, now() FROM unnest(${ids}::text[], ${made.map(m => m.creds)}::text[]) AS t(s, c)`
  const keySessions: string[] = []
  const keyIds: string[] = []
  const keyValues: string[] = []
  for (const m of made) {
    for (const [id, value] of m.keys) { keySessions.push(fleetSessionId(m.i)); keyIds.push(id); keyValues.push(value) }
  }
  await stack.prisma.$executeRaw`
    INSERT INTO auth_keys (session_id, type, id, value)
    SELECT s, 'pre-key', k, v::jsonb FROM unnest(${keySessions}::text[], ${keyIds}::text[], ${keyValues}::text[]) AS t(s, k, v)`
}
