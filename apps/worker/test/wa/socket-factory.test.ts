import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { proto, WA_CERT_DETAILS } from '@whiskeysockets/baileys'
import { createLogger } from '../../src/logger.ts'
import { createSocketFactory, shouldSyncHistory } from '../../src/wa/socket-factory.ts'

const logger = createLogger('silent')
const pem = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ==\n-----END CERTIFICATE-----\n'

t.test('unset WA_* settings leave real WhatsApp untouched', async t => {
  const before = Buffer.from(WA_CERT_DETAILS.PUBLIC_KEY)
  createSocketFactory({}, logger)
  t.same(Buffer.from(WA_CERT_DETAILS.PUBLIC_KEY), before, 'the WhatsApp root key is not replaced')
})

t.test('WA_TRUST_ROOT replaces the root key, and must be a 32-byte key', async t => {
  const root = Buffer.alloc(32, 7)
  createSocketFactory({ WA_TRUST_ROOT: root.toString('base64') }, logger)
  t.same(Buffer.from(WA_CERT_DETAILS.PUBLIC_KEY), root)
  t.throws(() => createSocketFactory({ WA_TRUST_ROOT: Buffer.alloc(8).toString('base64') }, logger), /WA_TRUST_ROOT/)
})

t.test('WA_MEDIA_CA takes PEM text or the path of a PEM file', async t => {
  t.doesNotThrow(() => createSocketFactory({ WA_MEDIA_CA: pem }, logger), 'PEM text')
  const file = join(mkdtempSync(join(tmpdir(), 'wss-ca-')), 'ca.pem')
  writeFileSync(file, pem)
  t.doesNotThrow(() => createSocketFactory({ WA_MEDIA_CA: file }, logger), 'a path')
  t.throws(() => createSocketFactory({ WA_MEDIA_CA: '/nonexistent/ca.pem' }, logger), /WA_MEDIA_CA is neither PEM text nor a readable file/)
})

t.test('history sync: push names only, never chat history', async t => {
  const { HistorySyncType } = proto.HistorySync
  t.ok(shouldSyncHistory({ syncType: HistorySyncType.PUSH_NAME }), 'push names')
  for (const syncType of [HistorySyncType.INITIAL_BOOTSTRAP, HistorySyncType.RECENT, HistorySyncType.FULL, HistorySyncType.ON_DEMAND]) {
    t.notOk(shouldSyncHistory({ syncType }), `not ${HistorySyncType[syncType]}`)
  }
})
