import t from 'tap'
import { randomBytes } from 'node:crypto'
import { Curve, proto, type SignalDataSet } from '@whiskeysockets/baileys'
import { StaleGenerationError, claimSessionGeneration } from '@wss/db'
import { createAuthStore, createSharedKeyCache } from '../../src/auth/index.ts'
import {
  authDatabase,
  captureLogger,
  countingPrisma,
  createSession,
  credsText,
  keyRows,
  prismaOn,
  silentPino,
} from './helpers.ts'

const { prisma, databaseUrl } = await authDatabase(t)
const logger = silentPino()

const preKeys = (from: number, count: number) => {
  const out: Record<string, ReturnType<typeof Curve.generateKeyPair>> = {}
  for (let i = from; i < from + count; i++) out[String(i)] = Curve.generateKeyPair()
  return out
}

t.test('creds are fresh until saved, then come back from the database', async (t) => {
  const sessionId = await createSession(prisma)
  const auth = await createAuthStore({ prisma, logger }).open(sessionId, 1)
  t.equal(auth.hasCreds, false)
  t.equal(auth.state.creds.registered, false)
  t.equal(await credsText(prisma, sessionId), undefined, 'nothing written before saveCreds')

  auth.state.creds.me = { id: '15550001111:3@s.whatsapp.net', name: 'Ann' }
  auth.state.creds.nextPreKeyId = 813
  await auth.saveCreds()

  // Another process, another client, no cache.
  const again = await createAuthStore({ prisma: prismaOn(t, databaseUrl), logger }).open(sessionId, 1)
  t.equal(again.hasCreds, true)
  t.same(again.state.creds.me, auth.state.creds.me)
  t.equal(again.state.creds.nextPreKeyId, 813)
  t.ok(Buffer.isBuffer(again.state.creds.noiseKey.private), 'keys revived as Buffers')
  t.ok(Buffer.from(again.state.creds.noiseKey.private).equals(Buffer.from(auth.state.creds.noiseKey.private)))
  t.ok(Buffer.from(again.state.creds.signedPreKey.signature).equals(Buffer.from(auth.state.creds.signedPreKey.signature)))
  t.equal(again.state.creds.advSecretKey, auth.state.creds.advSecretKey)
})

t.test('saveCreds called many times at once writes the newest creds', async (t) => {
  const sessionId = await createSession(prisma)
  const auth = await createAuthStore({ prisma, logger }).open(sessionId, 1)
  const saves: Promise<void>[] = []
  for (let i = 1; i <= 20; i++) {
    auth.state.creds.nextPreKeyId = i
    saves.push(auth.saveCreds())
  }
  await Promise.all(saves)
  t.equal(JSON.parse((await credsText(prisma, sessionId))!).nextPreKeyId, 20)
})

t.test('keys round-trip: Buffers, deletes by null, app-state-sync-key as protobuf', async (t) => {
  const sessionId = await createSession(prisma)
  const auth = await createAuthStore({ prisma, logger }).open(sessionId, 1)
  const pk = Curve.generateKeyPair()
  const session = randomBytes(300)
  await auth.state.keys.set({
    'pre-key': { 1: pk, 2: Curve.generateKeyPair() },
    session: { '15550002222.0': session },
    'sender-key-memory': { 'status@broadcast': { '15550002222:0@s.whatsapp.net': true } },
    'app-state-sync-key': {
      AAAAAQ: { keyData: randomBytes(32), fingerprint: { rawId: 7, currentIndex: 1, deviceIndexes: [0, 1] }, timestamp: 1767225600 },
    },
    'lid-mapping': { 15550002222: '123456789@lid' },
  })
  await auth.state.keys.set({ 'pre-key': { 2: null } })

  const fresh = await createAuthStore({ prisma: prismaOn(t, databaseUrl), logger }).open(sessionId, 1)
  const keys = fresh.state.keys
  const got = await keys.get('pre-key', ['1', '2', '3'])
  t.same(Object.keys(got), ['1'], 'deleted and never-written ids are absent')
  t.ok(Buffer.from(got['1']!.private).equals(Buffer.from(pk.private)))
  t.ok(Buffer.from((await keys.get('session', ['15550002222.0']))['15550002222.0']!).equals(session))
  t.same(await keys.get('sender-key-memory', ['status@broadcast']), {
    'status@broadcast': { '15550002222:0@s.whatsapp.net': true },
  })
  t.same(await keys.get('lid-mapping', ['15550002222']), { 15550002222: '123456789@lid' })
  const { AAAAAQ: sync } = await keys.get('app-state-sync-key', ['AAAAAQ'])
  t.ok(sync instanceof proto.Message.AppStateSyncKeyData, 'revived with AppStateSyncKeyData.fromObject')
  t.equal(sync!.fingerprint?.rawId, 7)
  t.equal(Buffer.from(sync!.keyData!).length, 32)
})

t.test('fencing: an owner that lost the session cannot write', async (t) => {
  const sessionId = await createSession(prisma, 1)
  const old = await createAuthStore({ prisma, logger }).open(sessionId, 1)
  await old.state.keys.set({ 'pre-key': preKeys(1, 5), session: { a: randomBytes(40) } })
  await old.saveCreds()
  const keysBefore = await keyRows(prisma, sessionId)
  const credsBefore = await credsText(prisma, sessionId)

  t.equal(await claimSessionGeneration(prisma, sessionId, 2), true, 'a new owner took the session')

  await t.rejects(old.state.keys.set({ 'pre-key': { 1: null, 9: Curve.generateKeyPair() }, session: { a: randomBytes(40) } }), StaleGenerationError)
  old.state.creds.nextPreKeyId = 999
  await t.rejects(old.saveCreds(), StaleGenerationError)
  await t.rejects(old.clear(), StaleGenerationError)
  t.same(await keyRows(prisma, sessionId), keysBefore, 'keys unchanged')
  t.equal(await credsText(prisma, sessionId), credsBefore, 'creds unchanged')
  t.ok((await old.state.keys.get('pre-key', ['1']))['1'], "the refused delete did not reach the old owner's cache")

  const current = await createAuthStore({ prisma, logger }).open(sessionId, 2)
  await current.state.keys.set({ 'pre-key': { 1: null } })
  t.equal((await keyRows(prisma, sessionId)).has('pre-key/1'), false, 'the current owner writes')
})

t.test('a batch lands whole or not at all', async (t) => {
  // Deferred triggers fail a transaction at COMMIT when it touched a poisoned
  // row. Inside one transaction that undoes the whole batch; written
  // statement by statement (or row by row), the parts that committed before
  // the poisoned one stay, whichever order the statements run in.
  await prisma.$executeRawUnsafe('CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION \'poisoned row\'; END $$')
  await prisma.$executeRawUnsafe(`CREATE CONSTRAINT TRIGGER poison_upsert AFTER INSERT OR UPDATE ON auth_keys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.id = 'poison') EXECUTE FUNCTION poison()`)
  await prisma.$executeRawUnsafe(`CREATE CONSTRAINT TRIGGER poison_delete AFTER DELETE ON auth_keys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.id = 'poison-delete') EXECUTE FUNCTION poison()`)
  t.teardown(async () => {
    await prisma.$executeRawUnsafe('DROP TRIGGER poison_upsert ON auth_keys')
    await prisma.$executeRawUnsafe('DROP TRIGGER poison_delete ON auth_keys')
  })

  const sessionId = await createSession(prisma)
  const auth = await createAuthStore({ prisma, logger }).open(sessionId, 1)
  await auth.state.keys.set({ 'pre-key': preKeys(1, 200), session: { 'poison-delete': randomBytes(40) } })
  const before = await keyRows(prisma, sessionId)

  // 300 new, 100 replaced, 100 deleted, across types.
  const batch = (poison: SignalDataSet): SignalDataSet => {
    const deletes: Record<string, null> = {}
    for (let i = 101; i <= 200; i++) deletes[String(i)] = null
    return {
      'pre-key': { ...preKeys(1, 100), ...deletes, ...preKeys(1000, 300), ...poison['pre-key'] },
      session: { fresh: randomBytes(40), ...poison.session },
    }
  }

  await t.rejects(auth.state.keys.set(batch({ session: { poison: randomBytes(40) } })), 'a poisoned upsert fails the batch')
  t.same(await keyRows(prisma, sessionId), before, 'nothing of it was written')
  t.same(Object.keys(await auth.state.keys.get('pre-key', ['1', '150', '1000'])).sort(), ['1', '150'], 'reads see the old keys')

  await t.rejects(auth.state.keys.set(batch({ session: { 'poison-delete': null } })), 'a poisoned delete fails the batch')
  t.same(await keyRows(prisma, sessionId), before, 'nothing of it was written')

  await auth.state.keys.set(batch({}))
  const after = await keyRows(prisma, sessionId)
  t.equal(after.size, 200 + 1 + 300 + 1 - 100, 'the same batch without poison lands whole')
})

t.test('812 pre-keys (a first login) in one batch, read back cold', async (t) => {
  const sessionId = await createSession(prisma)
  const auth = await createAuthStore({ prisma, logger }).open(sessionId, 1)
  const written = preKeys(1, 812)
  let started = performance.now()
  await auth.state.keys.set({ 'pre-key': written })
  const writeMs = performance.now() - started
  t.equal((await keyRows(prisma, sessionId)).size, 812)

  const cold = await createAuthStore({ prisma: prismaOn(t, databaseUrl), logger }).open(sessionId, 1)
  started = performance.now()
  const got = await cold.state.keys.get('pre-key', Object.keys(written))
  const readMs = performance.now() - started
  t.equal(Object.keys(got).length, 812)
  t.comment(`812 pre-keys: write ${writeMs.toFixed(1)} ms, cold read ${readMs.toFixed(1)} ms`)
})

t.test('a stale generation refuses a large batch entirely', async (t) => {
  const sessionId = await createSession(prisma, 1)
  const auth = await createAuthStore({ prisma, logger }).open(sessionId, 1)
  await claimSessionGeneration(prisma, sessionId, 5)
  await t.rejects(auth.state.keys.set({ 'pre-key': preKeys(1, 812) }), StaleGenerationError)
  t.equal((await keyRows(prisma, sessionId)).size, 0)
})

t.test('clear() removes creds and every key of that session only', async (t) => {
  const store = createAuthStore({ prisma, logger })
  const [a, b] = await Promise.all([createSession(prisma), createSession(prisma)])
  const authA = await store.open(a, 1)
  const authB = await store.open(b, 1)
  for (const auth of [authA, authB]) {
    await auth.saveCreds()
    await auth.state.keys.set({ 'pre-key': preKeys(1, 50), session: { x: randomBytes(40) }, 'sender-key': { y: randomBytes(40) } })
  }
  const bKeys = await keyRows(prisma, b)
  const bCreds = await credsText(prisma, b)

  await authA.clear()
  t.equal((await keyRows(prisma, a)).size, 0, "a's keys are gone")
  t.equal(await credsText(prisma, a), undefined, "a's creds are gone")
  t.equal(authA.hasCreds, false)
  t.same(await authA.state.keys.get('pre-key', ['1', '2']), {}, 'no stale cache entries')
  t.same(await keyRows(prisma, b), bKeys, "b's keys stay")
  t.equal(await credsText(prisma, b), bCreds, "b's creds stay")
  t.equal(Object.keys(await authB.state.keys.get('pre-key', ['1', '2'])).length, 2)

  // A dead socket's late creds.update must not bring the logged-out creds back.
  await authA.saveCreds()
  await authA.state.keys.set({ session: { late: randomBytes(40) } })
  t.equal(await credsText(prisma, a), undefined, 'a write after clear() is ignored')
  t.equal((await keyRows(prisma, a)).size, 0)
  t.equal((await store.open(a, 1)).hasCreds, false, 'a reopens with fresh creds')
})

t.test('writes of one session commit in call order', async (t) => {
  const sessionId = await createSession(prisma)
  const auth = await createAuthStore({ prisma, logger }).open(sessionId, 1)
  const values = Array.from({ length: 10 }, () => randomBytes(40))
  await Promise.all(values.map((v) => auth.state.keys.set({ session: { s: v } })))
  const last = values.at(-1)!
  t.ok(Buffer.from((await auth.state.keys.get('session', ['s'])).s!).equals(last), 'cache holds the last write')
  const fresh = await createAuthStore({ prisma, logger }).open(sessionId, 1)
  t.ok(Buffer.from((await fresh.state.keys.get('session', ['s'])).s!).equals(last), 'database holds the last write')
})

t.test('the cache', async (t) => {
  t.test('is bounded, and reads past it still come from the database', async (t) => {
    const cache = createSharedKeyCache({ max: 100 })
    const sessionId = await createSession(prisma)
    const auth = await createAuthStore({ prisma, logger, cache }).open(sessionId, 1)
    const written = preKeys(1, 500)
    await auth.state.keys.set({ 'pre-key': written })
    t.ok(cache.size <= 100, `cache holds ${cache.size} entries`)
    const ids = Object.keys(written)
    const got = await auth.state.keys.get('pre-key', ids)
    t.equal(Object.keys(got).length, 500)
    t.ok(ids.every((id) => Buffer.from(got[id]!.private).equals(Buffer.from(written[id]!.private))), 'every value right')
    t.ok(cache.size <= 100, `still ${cache.size} entries after reading 500`)
  })

  t.test('serves written keys and remembered misses without a query', async (t) => {
    const counting = countingPrisma(prisma)
    const sessionId = await createSession(prisma)
    const auth = await createAuthStore({ prisma: counting.prisma, logger }).open(sessionId, 1)
    await auth.state.keys.set({ session: { known: randomBytes(40) }, 'pre-key': { 1: null } })

    let n = counting.count()
    t.same(Object.keys(await auth.state.keys.get('session', ['known'])), ['known'])
    t.same(await auth.state.keys.get('pre-key', ['1']), {})
    t.equal(counting.count(), n, 'written and deleted keys are read from the cache')

    n = counting.count()
    t.same(await auth.state.keys.get('session', ['absent-1', 'absent-2']), {})
    t.equal(counting.count(), n + 1, 'one query for the misses')
    t.same(await auth.state.keys.get('session', ['absent-2', 'absent-1']), {})
    t.equal(counting.count(), n + 1, 'no second query for ids the database does not hold')

    await auth.state.keys.set({ session: { 'absent-1': randomBytes(40) } })
    t.same(Object.keys(await auth.state.keys.get('session', ['absent-1'])), ['absent-1'], 'a write replaces a remembered miss')
  })

  t.test('is shared by sessions and evicted per session', async (t) => {
    const counting = countingPrisma(prisma)
    const cache = createSharedKeyCache({ max: 1000 })
    const store = createAuthStore({ prisma: counting.prisma, logger, cache })
    const [a, b] = await Promise.all([createSession(prisma), createSession(prisma)])
    const authA = await store.open(a, 1)
    const authB = await store.open(b, 1)
    await authA.state.keys.set({ 'pre-key': preKeys(1, 10) })
    await authB.state.keys.set({ 'pre-key': preKeys(1, 10) })
    t.equal(cache.size, 20, 'both sessions in one cache, apart')
    t.not(
      Buffer.from((await authA.state.keys.get('pre-key', ['1']))['1']!.private).toString('hex'),
      Buffer.from((await authB.state.keys.get('pre-key', ['1']))['1']!.private).toString('hex')
    )
    store.evictSession(a)
    t.equal(cache.size, 10, "only a's entries dropped")
    const n = counting.count()
    await authB.state.keys.get('pre-key', ['1', '2', '3'])
    t.equal(counting.count(), n, 'b still served from the cache')
    await authA.state.keys.get('pre-key', ['1', '2', '3'])
    t.equal(counting.count(), n + 1, 'a reads the database again')
  })

  t.test('hands out copies: a caller mutating a value does not change the cache', async (t) => {
    const sessionId = await createSession(prisma)
    const auth = await createAuthStore({ prisma, logger }).open(sessionId, 1)
    await auth.state.keys.set({ 'sender-key-memory': { g: { 'a@s.whatsapp.net': true } } })
    const { g } = await auth.state.keys.get('sender-key-memory', ['g'])
    g!['b@s.whatsapp.net'] = true // as Baileys does before writing it back
    t.same((await auth.state.keys.get('sender-key-memory', ['g'])).g, { 'a@s.whatsapp.net': true })
  })
})

t.test('logs carry ids and counts, never key material', async (t) => {
  const { logger: capture, lines, entries } = captureLogger()
  const sessionId = await createSession(prisma)
  const auth = await createAuthStore({ prisma, logger: capture }).open(sessionId, 1)
  const keys = preKeys(1, 20)
  const session = randomBytes(64)
  await auth.state.keys.set({ 'pre-key': keys, session: { x: session } })
  await auth.saveCreds()
  await claimSessionGeneration(prisma, sessionId, 2)
  await t.rejects(auth.state.keys.set({ session: { x: randomBytes(64) } }), StaleGenerationError)

  const written = entries.find((e) => e.msg === 'auth keys written')
  t.match(written, { sessionId, upserted: 21, deleted: 0, types: ['pre-key', 'session'] })
  t.ok(entries.some((e) => e.msg.includes('refused')), 'the refused write is logged')
  const secrets = [
    ...Object.values(keys).map((k) => Buffer.from(k.private).toString('base64')),
    session.toString('base64'),
    Buffer.from(auth.state.creds.noiseKey.private).toString('base64'),
    Buffer.from(auth.state.creds.signedIdentityKey.private).toString('base64'),
    auth.state.creds.advSecretKey,
  ]
  const leaked = secrets.filter((s) => lines.some((l) => l.includes(s)))
  t.same(leaked, [], `${lines.length} log lines hold no secret`)
})
