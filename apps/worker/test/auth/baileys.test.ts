// A real Baileys client on the Postgres auth state, against the simulator.
import t, { type Test } from 'tap'
import { DisconnectReason } from '@whiskeysockets/baileys'
import { StaleGenerationError, claimSessionGeneration, type PrismaClient } from '@wss/db'
import { startSimulator } from '@wss/wa-sim'
import { exitWhenDone } from '@wss/wa-sim/testing'
import { createAuthStore, createSharedKeyCache, type SessionAuth } from '../../src/auth/index.ts'
import {
  authDatabase,
  captureLogger,
  createSession,
  eventually,
  openAuthSocket,
  prismaOn,
  silentPino,
  type AuthSocket,
} from './helpers.ts'

exitWhenDone(t)

const PHONE = '15552220000'
const CONTACT = '15552220001'
const audience = [`${PHONE}@s.whatsapp.net`, `${CONTACT}@s.whatsapp.net`]

const sim = await startSimulator()
t.teardown(() => sim.close())
await sim.client.createAccount(PHONE)
await sim.client.createAccount(CONTACT)
await sim.client.addContacts(PHONE, [CONTACT])
const { prisma, databaseUrl } = await authDatabase(t)
const sessionId = await createSession(prisma, 1)

const countKeys = async (db: PrismaClient) => {
  const rows = await db.$queryRaw<Array<{ type: string; n: number }>>`
    SELECT type, count(*)::int AS n FROM auth_keys WHERE session_id = ${sessionId} GROUP BY type ORDER BY type`
  return Object.fromEntries(rows.map((r) => [r.type, r.n]))
}

/** Ends the socket and waits until every write it caused has been committed. */
async function stop (sock: AuthSocket, auth: SessionAuth) {
  sock.end()
  await sock.closed
  await auth.saveCreds()
}

/** A worker process starting cold: its own Prisma client, an empty cache, the next generation. */
async function restartWorker (tt: Test, generation: number) {
  const db = prismaOn(t, databaseUrl)
  tt.equal(await claimSessionGeneration(db, sessionId, generation), true, `generation ${generation} claimed`)
  const store = createAuthStore({ prisma: db, logger: silentPino(), cache: createSharedKeyCache() })
  const auth = await store.open(sessionId, generation)
  const sock = openAuthSocket(sim.settings, auth)
  t.teardown(() => sock.end())
  return { db, auth, sock, evict: () => store.evictSession(sessionId) }
}

/** Base keys of the Signal sessions in each stored session record (a new session has a new one). */
async function sessionBaseKeys (db: PrismaClient) {
  const rows = await db.$queryRaw<Array<{ id: string; value: { _sessions: Record<string, unknown> } }>>`
    SELECT id, value FROM auth_keys WHERE session_id = ${sessionId} AND type = 'session' ORDER BY id`
  return Object.fromEntries(rows.map((r) => [r.id, Object.keys(r.value._sessions).sort()]))
}

async function sendStatus (sock: AuthSocket, text: string) {
  const started = performance.now()
  const msg = await sock.sock.sendMessage('status@broadcast', { text }, { statusJidList: audience, broadcast: true })
  const record = await sim.client.status(PHONE, msg!.key.id!, 10_000)
  return { record, ms: Math.round(performance.now() - started) }
}

let linked: { auth: SessionAuth; sock: AuthSocket } | undefined

t.test('links by QR with the Postgres auth state, restarts after 515, logs in', async (t) => {
  const { logger, entries } = captureLogger()
  const store = createAuthStore({ prisma, logger })
  const auth = await store.open(sessionId, 1)
  t.equal(auth.hasCreds, false, 'a new session starts without creds')

  const first = openAuthSocket(sim.settings, auth)
  const { qr } = await first.waitFor((u) => !!u.qr)
  t.ok((await sim.client.scanQr(PHONE, qr!)).linked, 'the phone scanned the QR')
  t.equal(await first.closed, DisconnectReason.restartRequired, '515 after pairing')
  await auth.saveCreds()

  // The restart re-reads the auth state from the database.
  const reopened = await store.open(sessionId, 1)
  t.equal(reopened.hasCreds, true)
  t.match(reopened.state.creds.me?.id, new RegExp(`^${PHONE}:\\d+@s\\.whatsapp\\.net$`), 'creds name the linked device')
  const second = openAuthSocket(sim.settings, reopened)
  await second.waitFor((u) => u.connection === 'open')
  t.pass('logged in (open)')

  t.ok(await eventually(async () => (await countKeys(prisma))['pre-key'] === 812, 20_000), '812 pre-keys are rows in auth_keys')
  const upload = entries.find((e) => e.msg === 'auth keys written' && e.upserted === 812)
  t.ok(upload, 'the 812 pre-keys were one batch')
  t.comment(`812 pre-keys written in one fenced transaction in ${String(upload?.ms)} ms`)
  t.same(second.saveErrors, [])
  linked = { auth: reopened, sock: second }
})

let restarted: { db: PrismaClient; auth: SessionAuth; sock: AuthSocket; evict(): void } | undefined

t.test('a restarted worker logs in from Postgres and sends statuses the contact decrypts', async (t) => {
  if (!linked) return t.fail('needs the linked session of the previous test')
  await stop(linked.sock, linked.auth)

  const worker = await restartWorker(t, 2)
  const { db, sock } = worker
  restarted = worker
  await sock.waitFor((u) => u.connection === 'open')
  t.notOk(sock.updates.some((u) => u.qr), 'no QR: logged in with the stored creds')

  const first = await sendStatus(sock, 'first status after a restart')
  t.comment(`status sent and decrypted in ${first.ms} ms`)
  t.equal(first.record.text, 'first status after a restart')
  t.same(first.record.recipients.filter((r) => r.decrypted).map((r) => r.phone).sort(), [CONTACT, PHONE].sort(), 'both phones decrypted it')
  const stored = await countKeys(db)
  t.ok(stored.session! >= 2, `signal sessions stored (${stored.session})`)
  t.ok(stored['sender-key']! >= 1, `sender key stored (${stored['sender-key']})`)
  const sessionsBefore = await sessionBaseKeys(db)

  // With the cache dropped, the next statuses encrypt with the Signal
  // sessions and sender key read back from Postgres. The first send inserted
  // the session rows; each later send updates them. An update lost or stale
  // would reuse a message counter the phone has already consumed, and the
  // phone could not decrypt.
  for (const text of ['second status, keys from Postgres', 'third status, keys from Postgres']) {
    worker.evict()
    const next = await sendStatus(sock, text)
    t.same(next.record.recipients.map((r) => [r.phone, r.decrypted, r.error ?? null]).sort(), [
      [CONTACT, true, null],
      [PHONE, true, null],
    ].sort(), `${text}: both phones decrypted it`)
  }
  t.same(await sessionBaseKeys(db), sessionsBefore, 'the stored sessions were continued, not replaced')
  t.same(sock.saveErrors, [])
})

t.test('after another restart: login, a status, and the previous owner is fenced off', async (t) => {
  if (!restarted) return t.fail('needs the session of the previous test')
  await stop(restarted.sock, restarted.auth)
  const { db, auth, sock } = await restartWorker(t, 3)
  await sock.waitFor((u) => u.connection === 'open')
  t.notOk(sock.updates.some((u) => u.qr))
  const third = await sendStatus(sock, 'third status')
  t.same(third.record.recipients.filter((r) => r.decrypted).map((r) => r.phone).sort(), [CONTACT, PHONE].sort())
  const deviceId = Number(auth.state.creds.me!.id.split(':')[1]!.split('@')[0])
  t.equal((await sim.client.deviceConnections(PHONE, deviceId)).maxOpen, 1, 'never two connections of the device at once')

  const keysBefore = await countKeys(db)
  await t.rejects(restarted.auth.state.keys.set({ session: { late: Buffer.alloc(8) } }), StaleGenerationError, "the old owner's late key write is refused")
  await t.rejects(restarted.auth.saveCreds(), StaleGenerationError, "the old owner's late creds write is refused")
  t.same(await countKeys(db), keysBefore)

  t.test('401 (device removed) then clear() leaves nothing and the next open starts over', async (t) => {
    await sim.client.logoutDevice(PHONE, deviceId)
    t.equal(await sock.closed, DisconnectReason.loggedOut)
    await auth.clear()
    t.same(await countKeys(db), {}, 'no keys left')
    const reopened = await createAuthStore({ prisma: db, logger: silentPino() }).open(sessionId, 3)
    t.equal(reopened.hasCreds, false, 'no creds left')
    const fresh = openAuthSocket(sim.settings, reopened)
    t.teardown(() => fresh.end())
    t.ok((await fresh.waitFor((u) => !!u.qr)).qr, 'a new QR to link again')
  })
})
