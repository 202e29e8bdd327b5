import t from 'tap'
import {
  CommandName, decodeOwner, type Status, encodeCommandReply, encodeOwner, isCommandResult, parseCommandJob, parseCommandReply, redisKeys
} from '../src/index.ts'

t.test('a reply is encoded once and read back, its result checked against the command', async t => {
  const status: Status = {
    id: 'st-1', sessionId: 's1', type: 'text', content: 'hi', caption: null, targetNumbers: ['15551230001'],
    backgroundColor: null, font: null, state: 'sent', error: null, sentAt: '2026-11-30T10:00:00.000Z', expiresAt: '2026-12-01T10:00:00.000Z', viewCount: 0
  }
  const ok = parseCommandReply(encodeCommandReply('r1', { ok: true, name: CommandName.SendStatus, data: status }))
  t.same(ok, { requestId: 'r1', ok: true, data: status })
  t.ok(ok?.ok === true && isCommandResult(CommandName.SendStatus, ok.data), 'a status is a send-status result')
  t.notOk(isCommandResult(CommandName.RequestPairingCode, status), 'but not a pairing code')
  t.notOk(isCommandResult(CommandName.SendStatus, { ...status, state: 'lost' }), 'a state outside the contract is refused')

  t.same(parseCommandReply(encodeCommandReply('r2', { ok: false, code: 'SESSION_NOT_FOUND', message: 'gone' })),
    { requestId: 'r2', ok: false, code: 'SESSION_NOT_FOUND', message: 'gone' })
  t.equal(parseCommandReply('{"requestId":"r3","ok":false,"code":"SOMETHING","message":"x"}'), null, 'codes come from the shared table')
  t.equal(parseCommandReply('not json'), null)
})

t.test('a command job is checked with its payload schema', async t => {
  t.ok(parseCommandJob({ name: 'update-phone-number', payload: { sessionId: 's1', phoneNumber: '15551230000' }, forwards: 2 }))
  t.equal(parseCommandJob({ name: 'update-phone-number', payload: { sessionId: 's1' } }), null, 'missing field')
  t.equal(parseCommandJob({ name: 'drop-tables', payload: { sessionId: 's1' } }), null, 'unknown command')
  t.equal(parseCommandJob({ name: 'start-session', payload: { sessionId: 's1' }, forwards: -1 }), null, 'negative forward count')
  t.ok(parseCommandJob({ name: 'start-session', payload: { sessionId: 's1' }, hops: 1 }), 'a job queued before `forwards` existed still runs')
})

t.test('owner values: one codec for every reader', async t => {
  t.equal(encodeOwner('w-1', 7n), 'w-1|7')
  t.same(decodeOwner(encodeOwner('w-1', 7n)), { workerId: 'w-1', generation: 7n })
  t.same(decodeOwner(encodeOwner('w-1', 'pending')), { workerId: 'w-1', generation: null }, 'claimed, not confirmed')
  t.equal(decodeOwner(null), null)
  t.equal(decodeOwner('no-separator'), null)
  const keys = redisKeys('p')
  t.equal(keys.owner('s'), '{p}:owner:s')
  const registry = [keys.workers, keys.workerInfo, keys.owner('s'), keys.owned('w'), keys.pending, keys.epoch, keys.lock('sweep')]
  t.ok(registry.every(k => k.startsWith('{p}:')), 'every registry key under the deployment\'s hash tag (one cluster slot)')
  t.equal(keys.bull, '{p:bull}', 'BullMQ\'s prefix braced: each queue\'s keys in one slot')
})
