import t from 'tap'
import { Value } from 'typebox/value'
import {
  normalizePhoneNumber,
  SessionIdSchema,
  SessionIdParamsSchema,
  Ok,
  SessionSchema,
  ErrorEnvelopeSchema,
  parseAudienceSpec,
  toStatus
} from '../src/index.ts'

t.test('normalizePhoneNumber strips +, spaces, dashes and parentheses', async t => {
  t.equal(normalizePhoneNumber('+1 (555) 123-4567'), '15551234567')
  t.equal(normalizePhoneNumber('62 812-3456-7890'), '6281234567890')
  t.equal(normalizePhoneNumber('628123456789'), '628123456789')
  t.equal(normalizePhoneNumber('  +44 20 7946 0958 '), '442079460958')
})

t.test('normalizePhoneNumber enforces 10–15 digits', async t => {
  t.equal(normalizePhoneNumber('123456789'), null, '9 digits')
  t.equal(normalizePhoneNumber('1234567890'), '1234567890', '10 digits')
  t.equal(normalizePhoneNumber('123456789012345'), '123456789012345', '15 digits')
  t.equal(normalizePhoneNumber('1234567890123456'), null, '16 digits')
})

t.test('normalizePhoneNumber refuses anything but digits after stripping', async t => {
  t.equal(normalizePhoneNumber(''), null)
  t.equal(normalizePhoneNumber('+'), null)
  t.equal(normalizePhoneNumber('12345abc7890'), null, 'letters')
  t.equal(normalizePhoneNumber('1234.567.890'), null, 'dots are not stripped')
  t.equal(normalizePhoneNumber('123+4567890123'), null, 'a + that is not leading')
  t.equal(normalizePhoneNumber('++15551234567'), null, 'two leading +')
  t.equal(normalizePhoneNumber(12345678901 as unknown as string), null, 'not a string')
})

t.test('session ids follow ^[A-Za-z0-9_-]{1,64}$', async t => {
  t.ok(Value.Check(SessionIdSchema, 'shop-1_A'))
  t.ok(Value.Check(SessionIdSchema, 'a'.repeat(64)))
  t.notOk(Value.Check(SessionIdSchema, 'a'.repeat(65)))
  t.notOk(Value.Check(SessionIdSchema, ''))
  t.notOk(Value.Check(SessionIdSchema, 'has space'))
  t.notOk(Value.Check(SessionIdSchema, '../etc'))
  t.ok(Value.Check(SessionIdParamsSchema, { sessionId: 'abc' }))
})

t.test('Ok wraps a schema in the success envelope', async t => {
  const session = {
    sessionId: 's1',
    sessionName: 'Shop',
    authMethod: 'pairing',
    state: 'connecting',
    connected: false,
    pairingCode: null,
    qrCode: null,
    phoneNumber: '15551234567',
    ownNumber: null,
    lastError: null,
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z'
  }
  const schema = Ok(SessionSchema)
  t.ok(Value.Check(schema, { success: true, data: session }))
  t.notOk(Value.Check(schema, { success: false, data: session }))
  t.notOk(Value.Check(schema, { success: true, data: { ...session, state: 'weird' } }))
})

t.test('the error envelope needs success:false and a message', async t => {
  t.ok(Value.Check(ErrorEnvelopeSchema, { success: false, error: 'x', code: 'VALIDATION', details: [] }))
  t.ok(Value.Check(ErrorEnvelopeSchema, { success: false, error: 'x' }))
  t.notOk(Value.Check(ErrorEnvelopeSchema, { success: false }))
  t.notOk(Value.Check(ErrorEnvelopeSchema, { success: true, error: 'x' }))
})

t.test('toStatus carries the requested audience, what it resolved to and what was skipped', async t => {
  const row = {
    id: 's1', sessionId: 'shop', type: 'text' as const, content: 'hi', caption: null, targetNumbers: ['15550001111'],
    backgroundColor: null, font: null, state: 'sent' as const, error: null, sentAt: null, expiresAt: null
  }
  t.match(toStatus({ ...row, audienceSpec: { type: 'contacts', except: ['15550002222'] }, audienceSize: 4, skipped: 1 }, 0), {
    audience: { type: 'contacts', except: ['15550002222'] }, audienceSize: 4, skipped: 1
  })
  t.match(toStatus(row, 0), { audience: null, audienceSize: null, skipped: null }, 'a row from before audiences')
  t.equal(toStatus({ ...row, audienceSpec: { type: 'list' } }, 0).audience, null, 'a list without its id is no audience')
  t.equal(toStatus({ ...row, audienceSpec: { type: 'everyone' } }, 0).audience, null, 'nor an unknown type')
  t.same(parseAudienceSpec({ type: 'list', id: '0b7c2a4e-9f3d-4c1a-8e2b-5d6f7a8b9c0d' }), { type: 'list', id: '0b7c2a4e-9f3d-4c1a-8e2b-5d6f7a8b9c0d' })
})
