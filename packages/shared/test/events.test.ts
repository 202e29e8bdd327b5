import t from 'tap'
import {
  EventName,
  EVENT_NAMES,
  EventPayloadSchemas,
  parseBusEvent,
  encodeBusEvent,
  eventsChannel,
  EVENTS_CHANNEL
} from '../src/index.ts'

t.test('EventName lists exactly the contract events', async t => {
  t.same([...EVENT_NAMES].sort(), [
    'connection-status', 'contacts-updated', 'pairing-code', 'qr-code', 'session-created', 'session-deleted',
    'status-cancelled', 'status-deleted', 'status-failed', 'status-progress', 'status-sent', 'status-viewers-update',
    'statuses-updated', 'webhook-disabled'
  ])
  t.same(Object.keys(EventPayloadSchemas).sort(), [...EVENT_NAMES].sort(), 'one payload schema per event')
})

t.test('every session event requires a valid sessionId', async t => {
  for (const name of EVENT_NAMES) {
    const schema = EventPayloadSchemas[name] as { required?: string[] }
    if (name === EventName.WebhookDisabled) {
      t.same(schema.required?.sort(), ['reason', 'webhookId'], 'webhook-disabled belongs to no session')
      continue
    }
    t.ok(schema.required?.includes('sessionId'), `${name} requires sessionId`)
  }
  t.equal(parseBusEvent(JSON.stringify({ event: 'statuses-updated', data: {} })), null)
  t.equal(parseBusEvent(JSON.stringify({ event: 'statuses-updated', data: { sessionId: 'bad id' } })), null)
})

t.test('parseBusEvent accepts well-formed events', async t => {
  const msg = { event: EventName.ConnectionStatus, data: { sessionId: 's1', connected: true, ownNumber: '15551234567', status: 'connected' } }
  t.same(parseBusEvent(JSON.stringify(msg)), msg)
  t.same(parseBusEvent(Buffer.from(JSON.stringify(msg))), msg, 'from a Buffer')

  const viewers = {
    event: 'status-viewers-update',
    data: { sessionId: 's1', statusId: 'st1', viewers: [{ viewerNumber: '15551234567', viewedAt: '2025-01-01T00:00:00.000Z' }] }
  }
  t.same(parseBusEvent(JSON.stringify(viewers)), viewers)

  const extra = { event: 'status-progress', data: { sessionId: 's1', id: 'st1', sent: 10, total: 300, chunk: 1 } }
  t.same(parseBusEvent(JSON.stringify(extra)), extra, 'unknown extra payload fields pass through')
})

t.test('parseBusEvent returns null for anything invalid', async t => {
  t.equal(parseBusEvent('not json'), null)
  t.equal(parseBusEvent('null'), null)
  t.equal(parseBusEvent('[]'), null)
  t.equal(parseBusEvent(JSON.stringify({ event: 'nope', data: { sessionId: 's1' } })), null, 'unknown event')
  t.equal(parseBusEvent(JSON.stringify({ event: 'toString', data: { sessionId: 's1' } })), null, 'prototype key')
  t.equal(parseBusEvent(JSON.stringify({ event: 'pairing-code', data: { sessionId: 's1' } })), null, 'missing field')
  t.equal(parseBusEvent(JSON.stringify({ event: 'status-progress', data: { sessionId: 's1', id: 'x', sent: -1, total: 2 } })), null, 'out of range')
  t.equal(parseBusEvent(JSON.stringify({ event: 'connection-status', data: { sessionId: 's1', connected: 'yes' } })), null, 'wrong type')
  t.equal(parseBusEvent(JSON.stringify({ event: 'connection-status', data: { sessionId: 's1', connected: true, status: 'weird' } })), null, 'unknown state')
})

t.test('encodeBusEvent round-trips and refuses a bad payload', async t => {
  const json = encodeBusEvent('status-failed', { sessionId: 's1', id: 'st1', error: '479' })
  t.same(parseBusEvent(json), { event: 'status-failed', data: { sessionId: 's1', id: 'st1', error: '479' } })
  t.throws(() => encodeBusEvent('qr-code', { sessionId: 's1' } as never), TypeError)
})

t.test('the events channel lives under the Redis prefix', async t => {
  t.equal(EVENTS_CHANNEL, 'wss:events')
  t.equal(eventsChannel('test-123'), 'test-123:events')
})
