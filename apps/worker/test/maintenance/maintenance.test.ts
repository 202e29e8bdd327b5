// The maintenance run: the analytics rollup first, then the raw retention, which never deletes a
// posted status the rollup does not hold; rollups go after ANALYTICS_RETENTION_DAYS.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import pino from 'pino'
import type { OwnerRegistry } from '@wss/shared'
import { createMaintenance } from '../../src/maintenance/maintenance.ts'
import { migratedPrisma } from '../helpers.ts'

const { prisma } = await migratedPrisma(t)
const DAY = 86_400_000

t.test('rollup before retention; the rollups outlive the raw rows, then go too', async t => {
  const sessionId = `s-${randomUUID().slice(0, 8)}`
  await prisma.session.create({ data: { id: sessionId, name: 'S', authMethod: 'pairing', phoneNumber: '4915100000000', state: 'connected' } })
  const now = new Date('2026-06-30T12:00:00Z')
  const post = async (daysAgo: number, viewer: string) => {
    const sentAt = new Date(now.getTime() - daysAgo * DAY)
    const id = randomUUID()
    await prisma.status.create({ data: { id, sessionId, type: 'text', content: 'x', state: 'sent', createdAt: sentAt, sentAt, audience: ['own@s.whatsapp.net', `${viewer}@s.whatsapp.net`] } })
    await prisma.statusViewer.create({ data: { statusId: id, sessionId, viewerNumber: viewer, viewedAt: new Date(sentAt.getTime() + 60_000) } })
    return id
  }
  const old = await post(40, '4915111111111')
  const recent = await post(1, '4915122222222')
  const maintenance = createMaintenance({
    workerId: 'w1', prisma, registry: {} as OwnerRegistry, retentionDays: 0.5, analyticsRetentionDays: 400, intervalMs: 60_000, log: pino({ level: 'silent' })
  })
  await maintenance.run(now)
  t.equal(await prisma.status.count({ where: { id: old } }), 0, 'past the retention and rolled up: deleted')
  t.equal(await prisma.status.count({ where: { id: recent } }), 1, 'past a 12-hour retention but not rolled up yet (posted after the watermark): kept')
  const buckets = await prisma.analyticsBucket.findMany({ where: { sessionId, grain: 'day' } })
  t.same(buckets.map(b => [b.bucket.toISOString(), b.views, b.audience]), [['2026-05-21T00:00:00.000Z', 1, 1]], 'the old status is in the rollup')

  await maintenance.run(new Date(now.getTime() + 3 * DAY))
  t.equal(await prisma.status.count({ where: { id: recent } }), 0, 'rolled up three days later, then deleted')
  t.equal(await prisma.analyticsBucket.count({ where: { sessionId, grain: 'day' } }), 2)
  t.same((await prisma.analyticsViewer.findMany({ where: { sessionId }, orderBy: { viewerNumber: 'asc' } })).map(v => v.viewerNumber),
    ['4915111111111', '4915122222222'], 'the viewer rows name both viewers')

  await maintenance.run(new Date(now.getTime() + 420 * DAY))
  t.equal(await prisma.analyticsBucket.count({ where: { sessionId } }), 0, 'rollups past ANALYTICS_RETENTION_DAYS are deleted')
  t.equal(await prisma.analyticsViewerBucket.count({ where: { sessionId } }), 0, 'viewer rows too, months included')
  t.equal(await prisma.analyticsViewer.count({ where: { sessionId } }), 0, 'and the viewer numbers they named')
})
