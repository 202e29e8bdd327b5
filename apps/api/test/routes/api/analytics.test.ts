// Viewer analytics against rows inserted at known times: totals, series (UTC hours, UTC days,
// New York days across the March 2026 DST change), top viewers, reach and median; the same
// answers once the rows are rolled up and the raw rows deleted.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { deleteRawPastRetention, pruneAnalytics, rollupAnalytics } from '@wss/db'
import { auth, build, sessionName, testDatabase } from '../../helper.ts'
import { createKey, withKey } from '../../key-helper.ts'

const db = await testDatabase(t)
const { prisma } = db
const OWN = '4915100000000'
const jid = (n: string) => `${n}@s.whatsapp.net`
const [A, B, C, E] = ['4915111111111', '4915122222222', '4915133333333', '4915155555555']

interface Post { type: 'text' | 'image' | 'video' | 'url', sentAt: string | null, audience: string[], views: Array<[string, number]> }

async function seed (sessionId: string, posts: Post[]): Promise<string[]> {
  await prisma.session.create({ data: { id: sessionId, name: 'S', authMethod: 'pairing', phoneNumber: OWN, ownNumber: OWN, state: 'connected' } })
  const ids: string[] = []
  for (const p of posts) {
    const id = randomUUID()
    const sentAt = p.sentAt === null ? null : new Date(p.sentAt)
    await prisma.status.create({
      data: {
        id,
        sessionId,
        type: p.type,
        content: 'x',
        state: sentAt === null ? 'failed' : 'sent',
        createdAt: sentAt ?? new Date('2026-03-08T10:00:00Z'),
        sentAt,
        audience: sentAt === null ? [] : [jid(OWN), ...p.audience.map(jid)]
      }
    })
    await prisma.statusViewer.createMany({
      data: p.views.map(([viewerNumber, afterMs]) => ({ statusId: id, sessionId, viewerNumber, viewedAt: new Date(sentAt!.getTime() + afterMs) }))
    })
    ids.push(id)
  }
  return ids
}

const sessionId = sessionName()
const statusIds = await seed(sessionId, [
  { type: 'text', sentAt: '2026-03-07T12:00:00Z', audience: [A, B, C, 'x1'], views: [[A, 60_000], [B, 600_000], [C, 7_200_000]] },
  { type: 'image', sentAt: '2026-03-07T23:30:00Z', audience: [A, B], views: [[A, 30_000], [B, 90_000]] },
  // 23:30 in New York (EST) on March 7th, the night the clocks move forward.
  { type: 'video', sentAt: '2026-03-08T04:30:00Z', audience: [A, E], views: [[E, 300_000]] },
  { type: 'text', sentAt: '2026-03-08T15:00:00Z', audience: [A, B, C], views: [[A, 1_200_000], [B, 2_400_000]] },
  { type: 'text', sentAt: null, audience: [], views: [] }
])
// Another session's statuses never count.
await seed(sessionName(), [{ type: 'url', sentAt: '2026-03-07T13:00:00Z', audience: [A], views: [[A, 1000]] }])

const app = await build(t, { db })
const get = async (url: string, headers: Record<string, string> = auth) => await app.inject({ method: 'GET', url, headers })
const RANGE = 'from=2026-03-07T00:00:00Z&to=2026-03-09T00:00:00Z'
const analytics = async (query: string) => {
  const res = await get(`/api/sessions/${sessionId}/analytics?${query}`)
  if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`)
  return res.json().data
}

t.test('totals, UTC days and top viewers of the statuses posted in the range', async t => {
  const data = await analytics(RANGE)
  t.same(data.totals, {
    statuses: 4,
    statusesByType: { text: 2, image: 1, video: 1, url: 0, audio: 0 },
    audience: 11,
    views: 8,
    uniqueViewers: 4,
    reach: 0.7273,
    medianTimeToFirstViewMs: 450_000
  }, 'the failed status and the other session are left out; the own number is not audience')
  t.same(data.series.map((p: { start: string }) => p.start), ['2026-03-07T00:00:00.000Z', '2026-03-08T00:00:00.000Z'])
  t.match(data.series[0], { statuses: 2, audience: 6, views: 5, uniqueViewers: 3, reach: 0.8333, medianTimeToFirstViewMs: 105_000 })
  t.match(data.series[1], { statuses: 2, statusesByType: { video: 1, text: 1 }, audience: 5, views: 3, uniqueViewers: 3, reach: 0.6, medianTimeToFirstViewMs: 1_500_000 })
  t.same(data.topViewers, [
    { viewerNumber: B, statusesViewed: 3, lastViewedAt: '2026-03-08T15:40:00.000Z' },
    { viewerNumber: A, statusesViewed: 3, lastViewedAt: '2026-03-08T15:20:00.000Z' },
    { viewerNumber: E, statusesViewed: 1, lastViewedAt: '2026-03-08T04:35:00.000Z' },
    { viewerNumber: C, statusesViewed: 1, lastViewedAt: '2026-03-07T14:00:00.000Z' }
  ], 'most statuses viewed first, then the latest view')
  t.equal((await analytics(`${RANGE}&top=1`)).topViewers.length, 1)
})

t.test('days in New York: local midnights, a 23-hour day at the DST change', async t => {
  const data = await analytics(`${RANGE}&tz=America/New_York`)
  t.same(data.series.map((p: { start: string }) => p.start), ['2026-03-06T05:00:00.000Z', '2026-03-07T05:00:00.000Z', '2026-03-08T05:00:00.000Z'])
  t.match(data.series[0], { statuses: 0, views: 0, uniqueViewers: 0, reach: null, medianTimeToFirstViewMs: null })
  t.match(data.series[1], { statuses: 3, audience: 8, views: 6, uniqueViewers: 4 }, 'the 23:30 EST post is on March 7th')
  t.match(data.series[2], { statuses: 1, audience: 3, views: 2, uniqueViewers: 2 })
  t.equal(data.totals.uniqueViewers, 4)
  t.equal(data.range.tz, 'America/New_York')
})

t.test('hours: UTC hours, empty ones included; the range is widened to whole hours', async t => {
  const data = await analytics('from=2026-03-07T12:10:00Z&to=2026-03-07T13:05:00Z&interval=hour')
  t.same(data.range, { from: '2026-03-07T12:00:00.000Z', to: '2026-03-07T14:00:00.000Z', interval: 'hour', tz: 'UTC' })
  t.equal(data.series.length, 2)
  t.match(data.series[0], { start: '2026-03-07T12:00:00.000Z', statuses: 1, views: 3, uniqueViewers: 3, reach: 0.75 })
  t.match(data.series[1], { start: '2026-03-07T13:00:00.000Z', statuses: 0, views: 0 })
})

t.test('one status: audience, reach, cumulative views every 5 minutes then hourly, exact percentiles', async t => {
  const res = await get(`/api/sessions/${sessionId}/statuses/${statusIds[0]}/analytics`)
  t.equal(res.statusCode, 200)
  const data = res.json().data
  t.match(data, { audience: 4, viewers: 3, reach: 0.75, timeToView: { p50: 600_000, p90: 5_880_000 } })
  const points = data.viewsOverTime as Array<{ minutesSincePost: number, views: number, at: string }>
  t.same(points.slice(0, 13).map(p => p.minutesSincePost), [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 120])
  t.same(points.slice(0, 4).map(p => p.views), [1, 1, 2, 2], 'a view at exactly 10 minutes counts from the next point')
  t.equal(points.find(p => p.minutesSincePost === 180)!.views, 3)
  t.equal(points[points.length - 1]!.minutesSincePost, 24 * 60, 'until the 24 hours of the status')
  t.equal(points[0]!.at, '2026-03-07T12:05:00.000Z')

  const failed = (await get(`/api/sessions/${sessionId}/statuses/${statusIds[4]}/analytics`)).json().data
  t.match(failed, { sentAt: null, audience: 0, viewers: 0, reach: null, viewsOverTime: [], timeToView: { p50: null, p90: null } })
  t.equal((await get(`/api/sessions/${sessionId}/statuses/${randomUUID()}/analytics`)).statusCode, 404)
})

t.test('bad ranges, zones and formats are 400 naming the field', async t => {
  const field = async (query: string) => {
    const res = await get(`/api/sessions/${sessionId}/analytics?${query}`)
    t.equal(res.statusCode, 400, query)
    return res.json().details?.[0]?.field ?? res.json().error
  }
  t.equal(await field('tz=Mars/Olympus_Mons'), 'querystring.tz')
  t.equal(await field('tz=%2B05:30'), 'querystring.tz')
  t.equal(await field('from=yesterday'), 'querystring.from')
  t.equal(await field('from=2026-03-09T00:00:00Z&to=2026-03-07T00:00:00Z'), 'querystring.from')
  t.equal(await field('from=2020-01-01&to=2026-01-01&interval=hour'), 'querystring.to')
  t.match(await field('interval=week'), /interval/)
  t.match(await field('format=xml'), /format/)
  t.equal((await get('/api/sessions/nope/analytics')).statusCode, 404)
})

t.test('scoped keys: outside the scope the session does not exist', async t => {
  const other = await createKey(app, { sessions: ['someone-else*'], access: 'read' })
  const mine = await createKey(app, { sessions: [sessionId], access: 'read' })
  for (const url of [`/api/sessions/${sessionId}/analytics`, `/api/sessions/${sessionId}/statuses/${statusIds[0]}/analytics`,
    `/api/sessions/${sessionId}/viewers?format=csv`, `/api/sessions/${sessionId}/statuses/${statusIds[0]}/viewers?format=csv`]) {
    t.equal((await get(url, withKey(other.key))).statusCode, 404, url)
    t.equal((await get(url, withKey(mine.key))).statusCode, 200, url)
  }
})

t.test('the same figures after the rollup, after the raw rows are deleted, and after a second rollup', async t => {
  const queries = [RANGE, `${RANGE}&tz=America/New_York`, `${RANGE}&interval=hour`, 'from=2026-03-07T12:10:00Z&to=2026-03-08T16:00:00Z&tz=Asia/Kolkata',
    'from=2026-03-01&to=2026-04-01']
  const before = await Promise.all(queries.map(analytics))
  const first = await rollupAnalytics(prisma, new Date('2026-03-20T03:00:00Z'))
  t.match(first, { ran: true, watermark: new Date('2026-03-18T00:00:00Z'), from: new Date('2026-03-07T00:00:00Z') })
  t.same(await Promise.all(queries.map(analytics)), before, 'rolled up')

  const deleted = await deleteRawPastRetention(prisma, new Date('2026-03-19T00:00:00Z'))
  t.ok(deleted >= 5, 'the raw statuses are gone')
  t.equal(await prisma.statusViewer.count({ where: { sessionId } }), 0)
  t.same(await Promise.all(queries.map(analytics)), before, 'from the rollups alone')

  const snapshot = async () => [
    await prisma.$queryRaw`SELECT * FROM analytics_buckets ORDER BY session_id, grain, bucket`,
    await prisma.$queryRaw`SELECT * FROM analytics_viewer_buckets ORDER BY session_id, grain, bucket, viewer_id`,
    await prisma.$queryRaw`SELECT * FROM analytics_viewers ORDER BY id`
  ]
  const rows = await snapshot()
  t.match(await rollupAnalytics(prisma, new Date('2026-03-20T23:00:00Z')), { ran: false }, 'once per UTC day')
  t.match(await rollupAnalytics(prisma, new Date('2026-03-21T01:00:00Z')), { ran: true }, 'the next day')
  t.same(await snapshot(), rows, 'running it again changes nothing')
  t.same(await Promise.all(queries.map(analytics)), before)
})

t.test('rollups past ANALYTICS_RETENTION_DAYS are deleted', async t => {
  await pruneAnalytics(prisma, new Date('2026-03-08T00:00:00Z'))
  const data = await analytics(RANGE)
  t.match(data.series[0], { statuses: 0, views: 0 }, 'March 7th is gone')
  t.match(data.series[1], { statuses: 2, views: 3, uniqueViewers: 3 }, 'March 8th is kept')
  t.equal(data.totals.uniqueViewers, 3)
})

t.test('a local day split by the rollup watermark counts each viewer once, rolled up or raw', async t => {
  const split = sessionName()
  // April 1st in New York runs from 04:00 UTC to 04:00 UTC; the watermark falls at midnight UTC in it.
  await seed(split, [
    { type: 'text', sentAt: '2026-04-01T22:00:00Z', audience: [A, B], views: [[A, 60_000], [B, 120_000]] },
    { type: 'text', sentAt: '2026-04-02T02:00:00Z', audience: [A, C], views: [[A, 60_000], [C, 180_000]] }
  ])
  const query = 'from=2026-04-01T04:00:00Z&to=2026-04-02T04:00:00Z&tz=America/New_York'
  const read = async () => {
    const res = await get(`/api/sessions/${split}/analytics?${query}`)
    t.equal(res.statusCode, 200)
    return res.json().data
  }
  const before = await read()
  t.match(before.totals, { statuses: 2, views: 4, uniqueViewers: 3 })
  t.match(before.series, [{ start: '2026-04-01T04:00:00.000Z', views: 4, uniqueViewers: 3 }])
  t.same(before.topViewers.map((v: { viewerNumber: string, statusesViewed: number }) => [v.viewerNumber, v.statusesViewed]), [[A, 2], [C, 1], [B, 1]])
  t.match(await rollupAnalytics(prisma, new Date('2026-04-04T03:00:00Z')), { ran: true, watermark: new Date('2026-04-02T00:00:00Z') })
  t.same(await read(), before, 'A, viewer of a rolled-up and of a raw status, still counts once')
})
