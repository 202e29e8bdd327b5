import t from 'tap'
import { randomUUID } from 'node:crypto'
import { BufferJSON } from '@whiskeysockets/baileys'
import { exitWhenDone, provisionAuth } from '@wss/wa-sim/testing'
import { guardConsole } from '../../src/console-guard.ts'
import { createLogger } from '../../src/logger.ts'
import { metrics } from '../../src/lib/metrics.ts'
import { eventually, metricValue, startWorkerStack } from '../helpers.ts'

exitWhenDone(t)
guardConsole(createLogger('silent'))

type Stack = Awaited<ReturnType<typeof startWorkerStack>>

/** A linked session (credentials made by the simulated phone, as the bench's fleet): it logs in directly. */
async function linkedSession (ctx: Stack, phone: string) {
  await ctx.sim.client.createAccount(phone)
  const auth = await provisionAuth(ctx.sim.client, phone, 10)
  const id = `s-${randomUUID().slice(0, 8)}`
  await ctx.prisma.session.create({
    data: { id, name: phone, authMethod: 'qrcode', ownNumber: phone, ownLid: auth.lid.split(':')[0]!.split('@')[0]!, state: 'connecting', linkedAt: new Date() }
  })
  await ctx.prisma.$executeRaw`INSERT INTO auth_creds (session_id, creds, updated_at) VALUES (${id}, ${JSON.stringify(auth.creds, BufferJSON.replacer)}::jsonb, now())`
  for (const [keyId, value] of Object.entries(auth.keys['pre-key'] ?? {})) {
    await ctx.prisma.$executeRaw`INSERT INTO auth_keys (session_id, type, id, value) VALUES (${id}, 'pre-key', ${keyId}, ${JSON.stringify(value, BufferJSON.replacer)}::jsonb)`
  }
  return id
}

const DELAY_MS = 1000

t.test('CONNECT_CONCURRENCY=2: never more than 2 handshakes in flight, all connect, a session stopped while queued never logs in', async t => {
  const ctx = await startWorkerStack(t, { CONNECT_CONCURRENCY: '2' })
  const phones = Array.from({ length: 6 }, (_, i) => `1555203${String(i).padStart(4, '0')}`)
  const ids: string[] = []
  for (const phone of phones) ids.push(await linkedSession(ctx, phone))
  const victimPhone = '15552039999'
  const victim = await linkedSession(ctx, victimPhone)

  // Every server reply waits DELAY_MS: a handshake is in flight at least DELAY_MS before its login
  // (the server's hello) and DELAY_MS after it (the success before `open`).
  await ctx.sim.client.delayReplies(DELAY_MS)
  const starts = ids.map(sessionId => ctx.bus.send('start-session', { sessionId }, 120_000).catch(() => undefined))
  // The seventh is claimed while six wait or connect ahead of it: owned here, no socket.
  await eventually(async () => ctx.manager.sessions.size === 6, 30_000)
  const victimStart = ctx.bus.send('start-session', { sessionId: victim }, 120_000).catch(() => undefined)
  await eventually(() => ctx.manager.sessions.get(victim) !== undefined, 30_000)
  // Two in flight, the other five (the seventh among them) waiting for a slot.
  await eventually(async () => await metricValue(metrics.connectAttempts, { phase: 'waiting' }) === 5, 30_000)
  t.equal(await metricValue(metrics.connectAttempts, { phase: 'in_flight' }), 2, 'two attempts in flight, five waiting (metrics)')
  t.equal(ctx.manager.sessions.get(victim)?.sock, undefined, 'the queued session is owned but has no socket')
  await ctx.bus.send('delete-session', { sessionId: victim }, 60_000)

  await Promise.all([...starts, victimStart])
  await eventually(async () => (await ctx.prisma.session.count({ where: { id: { in: ids }, state: 'connected' } })) === ids.length, 120_000, 200)
  t.pass('every session ended connected')
  t.same([await metricValue(metrics.connectAttempts, { phase: 'in_flight' }), await metricValue(metrics.connectAttempts, { phase: 'waiting' })], [0, 0], 'every slot given back, nobody waiting')

  const log = await ctx.sim.client.connections()
  const entries = (phone: string) => Object.entries(log).filter(([key]) => key.startsWith(`${phone}:`)).flatMap(([, l]) => l.entries)
  const logins = phones.flatMap(p => entries(p).filter(e => e.event === 'login').map(e => e.at)).sort((a, b) => a - b)
  t.equal(logins.length, phones.length, 'each device logged in once')
  // Three logins closer than DELAY_MS would mean three handshakes in flight at the third one.
  const closest = Math.min(...logins.slice(2).map((at, i) => at - logins[i]!))
  t.ok(closest >= DELAY_MS - 20, `any three logins span at least ${DELAY_MS} ms (closest: ${closest} ms): at most 2 in flight`)
  const victimLogins = entries(victimPhone).filter(e => e.event === 'login')
  t.equal(victimLogins.length, 0, 'the session stopped while queued never logged in')
})
